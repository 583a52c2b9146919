"""sign-in identities, sign-in tickets, rate limits; users without an email

Users made before this have no identity: they sign in through a provider that verifies
their email address, which then becomes their first identity.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from typing import Any

import labvault.db
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_engine": "InnoDB"}


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("email", existing_type=sa.String(length=320), nullable=True)

    op.create_table(
        "identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("email_verified", sa.Boolean(), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("first_sign_in_at", labvault.db.UTCDateTime(), nullable=False),
        sa.Column("last_sign_in_at", labvault.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_identities_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identities")),
        sa.UniqueConstraint("provider", "subject", name=op.f("uq_identities_provider_subject")),
        **MYSQL,
    )
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_identities_user_id"), ["user_id"], unique=False)

    op.create_table(
        "sign_in_tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=80), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", labvault.db.UTCDateTime(), nullable=False),
        sa.Column("expires_at", labvault.db.UTCDateTime(), nullable=False),
        sa.Column("used_at", labvault.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_tickets")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_sign_in_tickets_token_hash")),
        **MYSQL,
    )
    with op.batch_alter_table("sign_in_tickets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sign_in_tickets_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "rate_limits",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("tokens", sa.Double(), nullable=False),
        sa.Column("updated", sa.Double(), nullable=False),
        sa.Column("full_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_rate_limits")),
        **MYSQL,
    )
    with op.batch_alter_table("rate_limits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rate_limits_full_at"), ["full_at"], unique=False)


def downgrade() -> None:
    op.drop_table("rate_limits")
    op.drop_table("sign_in_tickets")
    op.drop_table("identities")
    # accounts without an email cannot be kept by the older schema
    op.execute(sa.text("DELETE FROM users WHERE email IS NULL"))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("email", existing_type=sa.String(length=320), nullable=False)
