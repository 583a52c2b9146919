"""file sources: cached listings and their state; where a file's copy came from

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from typing import Any

import labvault.db
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_engine": "InnoDB"}
ORIGIN_COLUMNS = ("source", "source_path", "remote_size", "remote_modified", "checked_at")


def upgrade() -> None:
    op.create_table(
        "source_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("parent_hash", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("is_dir", sa.Boolean(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("modified", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_entries")),
        **MYSQL,
    )
    with op.batch_alter_table("source_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_source_entries_folder", ["source", "parent_hash", "position"], unique=False
        )
    op.create_table(
        "source_states",
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("built_at", labvault.db.UTCDateTime(), nullable=True),
        sa.Column("entry_count", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.Column("error_at", labvault.db.UTCDateTime(), nullable=True),
        sa.Column("lock_token", sa.String(length=32), nullable=True),
        sa.Column("lock_expires_at", labvault.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_source_states")),
        **MYSQL,
    )
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("source_path", sa.String(length=1000), nullable=True))
        batch_op.add_column(sa.Column("remote_size", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("remote_modified", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("checked_at", labvault.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("files", schema=None) as batch_op:
        for column in reversed(ORIGIN_COLUMNS):
            batch_op.drop_column(column)
    op.drop_table("source_states")
    op.drop_table("source_entries")
