"""item_id unique among what one user may see, not in the whole database

items.item_id loses its unique constraint and keeps an index: the service refuses an
item_id only when another item the user may know of has it, so that refusing tells
nobody of an item they may not read (issue 22, finding 9).

SQLite cannot drop a table's unique constraint: the table is made anew (batch mode, with
foreign keys off, see env.py), which drops its full-text triggers, made again here as
``labvault.items.models`` makes them at this revision (copied so that this migration
does not change when the models do). The FTS5 table keeps its rows: the new table has
the same rowids and texts.

Downgrade gives the constraint back; it fails while two items share an item_id.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

SQLITE_TRIGGERS = (
    """CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN
    INSERT INTO items_fts (rowid, search_title, search_body)
    VALUES (new.id, new.search_title, new.search_body);
END""",
    """CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN
    INSERT INTO items_fts (items_fts, rowid, search_title, search_body)
    VALUES ('delete', old.id, old.search_title, old.search_body);
END""",
    """CREATE TRIGGER items_fts_update AFTER UPDATE OF search_title, search_body ON items BEGIN
    INSERT INTO items_fts (items_fts, rowid, search_title, search_body)
    VALUES ('delete', old.id, old.search_title, old.search_body);
    INSERT INTO items_fts (rowid, search_title, search_body)
    VALUES (new.id, new.search_title, new.search_body);
END""",
)


def _alter_items(*, unique: bool) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("items", recreate="always" if sqlite else "never") as batch:
        if unique:
            batch.drop_index(batch.f("ix_items_item_id"))
            batch.create_unique_constraint(batch.f("uq_items_item_id"), ["item_id"])
        else:
            batch.drop_constraint(batch.f("uq_items_item_id"), type_="unique")
            batch.create_index(batch.f("ix_items_item_id"), ["item_id"], unique=False)
    if sqlite:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def upgrade() -> None:
    _alter_items(unique=False)


def downgrade() -> None:
    _alter_items(unique=True)
