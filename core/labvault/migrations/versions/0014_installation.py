"""installation id: every database gets one, which backups record and restores keep

A server restored from another's backup keeps its own id, so a strategy can tell a
repository another installation writes into (`labvault backup adopt` takes one over).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

import datetime as dt
import uuid
from typing import Any

import labvault.db
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_engine": "InnoDB"}


def upgrade() -> None:
    installation = op.create_table(
        "installation",
        sa.Column("singleton", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("installation_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", labvault.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("singleton", name=op.f("pk_installation")),
        **MYSQL,
    )
    op.bulk_insert(
        installation,
        [
            {
                "singleton": 1,
                "installation_id": str(uuid.uuid4()),
                "created_at": dt.datetime.now(dt.UTC),
            }
        ],
    )
    op.add_column(
        "backup_states", sa.Column("adopted_snapshot", sa.String(length=64), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("backup_states") as batch:
        batch.drop_column("adopted_snapshot")
    op.drop_table("installation")
