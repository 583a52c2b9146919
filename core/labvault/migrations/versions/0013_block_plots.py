"""block plots: the block type version that computed a block, and each block's cached plot

Blocks computed before carry no type version and are computed again when next read.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_engine": "InnoDB"}


def upgrade() -> None:
    op.add_column("blocks", sa.Column("type_version", sa.String(length=40), nullable=True))
    op.create_table(
        "block_plots",
        sa.Column("block_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("png_sha256", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["block_id"],
            ["blocks.id"],
            name=op.f("fk_block_plots_block_id_blocks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("block_id", name=op.f("pk_block_plots")),
        **MYSQL,
    )


def downgrade() -> None:
    op.drop_table("block_plots")
    with op.batch_alter_table("blocks") as batch:
        batch.drop_column("type_version")
