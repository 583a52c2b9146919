"""inventory imports: links from records to items, the imports run; barcode and CAS indexed

items.barcode and items.cas copy those starting-material fields (from items.fields) into
indexed columns; the upgrade fills them for the items there are.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from typing import Any

import labvault.db
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_engine": "InnoDB"}
BATCH = 1000

items = sa.table(
    "items",
    sa.column("id", sa.Integer),
    sa.column("type", sa.String),
    sa.column("fields", sa.JSON),
    sa.column("barcode", sa.String),
    sa.column("cas", sa.String),
)


def _fill_identifiers() -> None:
    connection = op.get_bind()
    last = 0
    while True:
        rows = connection.execute(
            sa.select(items.c.id, items.c.fields)
            .where(items.c.type == "starting_material", items.c.id > last)
            .order_by(items.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        for item_id, fields in rows:
            fields = fields or {}
            barcode, cas = fields.get("barcode") or None, fields.get("cas") or None
            if barcode or cas:
                connection.execute(
                    sa.update(items).where(items.c.id == item_id).values(barcode=barcode, cas=cas)
                )
        last = rows[-1][0]


def upgrade() -> None:
    # not in batch mode: on SQLite that copies the table, and its full-text triggers with
    # it would be lost; ADD COLUMN and DROP COLUMN work in place on every database
    op.add_column("items", sa.Column("barcode", sa.String(length=100), nullable=True))
    op.add_column("items", sa.Column("cas", sa.String(length=20), nullable=True))
    op.create_index(op.f("ix_items_barcode"), "items", ["barcode"], unique=False)
    op.create_index(op.f("ix_items_cas"), "items", ["cas"], unique=False)
    _fill_identifiers()

    op.create_table(
        "inventory_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("importer", sa.String(length=40), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["items.id"],
            name=op.f("fk_inventory_links_item_id_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_links")),
        sa.UniqueConstraint(
            "importer", "external_id", name=op.f("uq_inventory_links_importer_external_id")
        ),
        **MYSQL,
    )
    with op.batch_alter_table("inventory_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inventory_links_item_id"), ["item_id"], unique=False)

    op.create_table(
        "inventory_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("importer", sa.String(length=40), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", labvault.db.UTCDateTime(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_inventory_imports_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_imports")),
        **MYSQL,
    )
    with op.batch_alter_table("inventory_imports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inventory_imports_importer"), ["importer"], unique=False
        )


def downgrade() -> None:
    op.drop_table("inventory_imports")
    op.drop_table("inventory_links")
    op.drop_index(op.f("ix_items_cas"), table_name="items")
    op.drop_index(op.f("ix_items_barcode"), table_name="items")
    op.drop_column("items", "cas")
    op.drop_column("items", "barcode")
