"""imported_records: the item each record of an imported archive (.eln) became

Importing the same archive again finds the items made the first time (by the format,
the exporter and the record's key, hashed into ``origin``) and makes no others.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-08
"""

import labvault.db
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "imported_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=40), nullable=False),
        sa.Column("exporter", sa.String(length=500), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("created_at", labvault.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["items.id"],
            name=op.f("fk_imported_records_item_id_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imported_records")),
        sa.UniqueConstraint("origin", name=op.f("uq_imported_records_origin")),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
    )
    op.create_index(
        op.f("ix_imported_records_item_id"), "imported_records", ["item_id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("imported_records")  # with its index (MariaDB's foreign key needs it)
