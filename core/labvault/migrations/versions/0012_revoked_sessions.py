"""revoked sessions: the deny list of access tokens whose session was revoked

Access tokens issued before this carry no session id and are refused from now on: their
holders refresh (or sign in again) to get one that does.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from typing import Any

import labvault.db
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_engine": "InnoDB"}


def upgrade() -> None:
    op.create_table(
        "revoked_sessions",
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("expires_at", labvault.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_revoked_sessions")),
        **MYSQL,
    )
    op.create_index(op.f("ix_revoked_sessions_expires_at"), "revoked_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_table("revoked_sessions")
