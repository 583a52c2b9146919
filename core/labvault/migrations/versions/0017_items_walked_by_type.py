"""items and item_field_values: indexes a list filtered by a field walks, newest first

A list of one type filtered by a field (``GET /items?type=cycling_run&field.c_rate.gte=0.5``)
reads the type's items newest first from ``items (type, updated_at, id, deleted_at)`` and
looks up each item's value in ``item_field_values (name, item_id, number_value)``,
stopping after its page (labvault.items.lists). The items index takes the place of
``(type, deleted_at)``, whose counts it serves too, and of ``(type)``: with that one,
MariaDB intersected the rows of the type with those not in the trash (every item).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


# not in batch mode: on SQLite that copies the table, and its full-text triggers with it
def upgrade() -> None:
    op.create_index(
        op.f("ix_items_type_updated_at_id_deleted_at"),
        "items",
        ["type", "updated_at", "id", "deleted_at"],
        unique=False,
    )
    op.drop_index(op.f("ix_items_type_deleted_at"), table_name="items")
    op.drop_index(op.f("ix_items_type"), table_name="items")
    op.create_index(
        op.f("ix_item_field_values_name_item_id_number_value"),
        "item_field_values",
        ["name", "item_id", "number_value"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_item_field_values_name_item_id_number_value"), table_name="item_field_values"
    )
    op.create_index(op.f("ix_items_type"), "items", ["type"], unique=False)
    op.create_index(op.f("ix_items_type_deleted_at"), "items", ["type", "deleted_at"], unique=False)
    op.drop_index(op.f("ix_items_type_updated_at_id_deleted_at"), table_name="items")
