"""Who can sign in, and with what: user accounts, the identities sign-in providers vouch
for, refresh tokens (one family per sign-in), personal API keys, and the short-lived
tickets and rate limits of sign-in flows.

Only SHA-256 hashes of the secrets are stored; the secrets are high-entropy random
strings, so a fast hash is enough and lets us look them up by hash.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from labvault.db import MYSQL_TABLE_OPTIONS, Base, ExactString, utcnow
from labvault.emails import MAX_EMAIL_LENGTH


class Role(enum.StrEnum):
    USER = "user"
    MANAGER = "manager"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _ROLE_RANKS[self]


#: Each role's rank, counted once: every request checks one or two.
_ROLE_RANKS = {role: rank for rank, role in enumerate(Role)}


class Status(enum.StrEnum):
    ACTIVE = "active"
    UNVERIFIED = "unverified"
    DEACTIVATED = "deactivated"


def _enum(cls: type[enum.StrEnum]) -> sa.Enum:
    # stored as plain strings: the same column type on every backend
    return sa.Enum(
        cls,
        native_enum=False,
        create_constraint=False,
        length=20,
        values_callable=lambda members: [m.value for m in members],
    )


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Always an address someone verified (an admin, or a sign-in provider), in its normal
    #: form (labvault.emails); None when no provider vouched for one (some providers give
    #: no address at all).
    email: Mapped[str | None] = mapped_column(ExactString(MAX_EMAIL_LENGTH), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(200), default="")
    role: Mapped[Role] = mapped_column(_enum(Role), default=Role.USER)
    status: Mapped[Status] = mapped_column(_enum(Status), default=Status.ACTIVE)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def is_active(self) -> bool:
        return self.status != Status.DEACTIVATED

    def has_role(self, role: Role) -> bool:
        return self.role.rank >= role.rank


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    family_id: Mapped[str] = mapped_column(sa.String(32), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: End of the whole session (SESSION_LIFETIME after sign-in); rotation keeps it.
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]

    user: Mapped[User] = relationship(lazy="joined")


class RevokedSession(Base):
    """A session (a refresh-token family) signed out or revoked, kept while an access
    token of it may still be valid: every bearer check looks its ``sid`` up here."""

    __tablename__ = "revoked_sessions"

    session_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    #: When the last access token of the session has expired; then the row goes.
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    #: The first characters of the key, shown so people can tell their keys apart.
    hint: Mapped[str] = mapped_column(sa.String(16))
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime | None]
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]

    user: Mapped[User] = relationship(lazy="joined")


class LinkedIdentity(Base):
    """Who a sign-in provider instance says a user is; any of them reaches the account."""

    __tablename__ = "identities"
    __table_args__ = (sa.UniqueConstraint("provider", "subject"), MYSQL_TABLE_OPTIONS)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: The provider instance's name (its key in AUTH_PROVIDERS).
    provider: Mapped[str] = mapped_column(sa.String(40))
    subject: Mapped[str] = mapped_column(ExactString(255))
    #: The address the provider gave, in its normal form; None when it gave none, or
    #: something that is not an address.
    email: Mapped[str | None] = mapped_column(sa.String(MAX_EMAIL_LENGTH))
    email_verified: Mapped[bool] = mapped_column(default=False)
    display_name: Mapped[str] = mapped_column(sa.String(200), default="")
    first_sign_in_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_sign_in_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SignInTicket(Base):
    """A single-use secret with its data: the state of a sign-in flow, an email link.

    Kept in the database so that a flow started on one worker ends on another; only the
    secret's hash is stored.
    """

    __tablename__ = "sign_in_tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(sa.String(80))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    used_at: Mapped[dt.datetime | None]


class RateLimit(Base):
    """A token bucket per key (hashed: no address is kept), shared by every worker."""

    __tablename__ = "rate_limits"

    key_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    #: Attempts left; refills continuously up to the limit over its period.
    tokens: Mapped[float] = mapped_column(sa.Double)
    #: When ``tokens`` was last computed (seconds since the epoch).
    updated: Mapped[float] = mapped_column(sa.Double)
    #: When the bucket is full again (seconds since the epoch): from then on it is
    #: the same as no row, so it may be deleted.
    full_at: Mapped[float] = mapped_column(sa.Double, index=True)
