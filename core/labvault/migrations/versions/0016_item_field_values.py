"""item_field_values: the filterable fields of item types, in an indexed side table

Item types are plugins now (labvault_item_types); each declares the fields a list may
filter on and sort by, and their values are kept here, a row per item and field, in the
item's write. The built-in starting material declares barcode and cas, which items held
in columns of their own (0007): their values move here, and the columns go.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

#: The starting material's filterable fields, which were columns of items.
MOVED = ("barcode", "cas")


def upgrade() -> None:
    op.create_table(
        "item_field_values",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("text_value", sa.String(length=255), nullable=True),
        sa.Column("number_value", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["items.id"],
            name=op.f("fk_item_field_values_item_id_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item_field_values")),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
    )
    op.create_index(
        op.f("ix_item_field_values_item_id"), "item_field_values", ["item_id"], unique=False
    )
    op.create_index(
        op.f("ix_item_field_values_name_text_value_item_id"),
        "item_field_values",
        ["name", "text_value", "item_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_item_field_values_name_number_value_item_id"),
        "item_field_values",
        ["name", "number_value", "item_id"],
        unique=False,
    )
    for name in MOVED:
        op.execute(
            f"INSERT INTO item_field_values (item_id, name, text_value) "
            f"SELECT id, '{name}', {name} FROM items "
            f"WHERE type = 'starting_material' AND {name} IS NOT NULL AND {name} <> ''"
        )
        op.drop_index(op.f(f"ix_items_{name}"), table_name="items")
        # not in batch mode: on SQLite that copies the table, and its full-text triggers
        # with it; SQLite drops a column that no index names in place
        op.drop_column("items", name)


def downgrade() -> None:
    op.add_column("items", sa.Column("barcode", sa.String(length=100), nullable=True))
    op.add_column("items", sa.Column("cas", sa.String(length=20), nullable=True))
    for name, length in (("barcode", 100), ("cas", 20)):
        op.execute(
            f"UPDATE items SET {name} = (SELECT SUBSTR(v.text_value, 1, {length}) "
            "FROM item_field_values v WHERE v.item_id = items.id "
            f"AND v.name = '{name}' ORDER BY v.id LIMIT 1) "
            "WHERE type = 'starting_material'"
        )
        op.create_index(op.f(f"ix_items_{name}"), "items", [name], unique=False)
    op.drop_table("item_field_values")  # with its indexes
