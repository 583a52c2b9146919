"""items: an index of (type, deleted_at), so a list counts its lab-wide items from it

A list's total is counted up to 1,000 rows from its page on. Lab-wide items (starting
materials, equipment) are readable by everyone, so when there are that many of them the
total is known from this index alone, without checking who reads each item
(labvault.items.lists): at 100,000 items on MariaDB, 0.2 ms instead of 13 ms.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # not in batch mode: on SQLite that copies the table, and its full-text triggers with it
    op.create_index(op.f("ix_items_type_deleted_at"), "items", ["type", "deleted_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_items_type_deleted_at"), table_name="items")
