"""backups: each strategy's last run, last success and lock

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from typing import Any

import labvault.db
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_engine": "InnoDB"}


def upgrade() -> None:
    op.create_table(
        "backup_states",
        sa.Column("strategy", sa.String(length=40), nullable=False),
        sa.Column("last_run_at", labvault.db.UTCDateTime(), nullable=True),
        sa.Column("last_success_at", labvault.db.UTCDateTime(), nullable=True),
        sa.Column("last_snapshot", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("last_report", sa.JSON(), nullable=True),
        sa.Column("lock_token", sa.String(length=32), nullable=True),
        sa.Column("lock_holder", sa.String(length=200), nullable=True),
        sa.Column("lock_expires_at", labvault.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("strategy", name=op.f("pk_backup_states")),
        **MYSQL,
    )


def downgrade() -> None:
    op.drop_table("backup_states")
