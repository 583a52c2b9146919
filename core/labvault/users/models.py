"""The user account."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from labvault.db import Base, utcnow


class Role(enum.StrEnum):
    USER = "user"
    MANAGER = "manager"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)


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
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
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
