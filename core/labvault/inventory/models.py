"""Which item each inventory record became, and the imports that were run."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from labvault.auth.models import User
from labvault.db import MYSQL_TABLE_OPTIONS, Base, utcnow


class InventoryLink(Base):
    """The item an importer instance's record (by its external id) is."""

    __tablename__ = "inventory_links"
    __table_args__ = (sa.UniqueConstraint("importer", "external_id"), MYSQL_TABLE_OPTIONS)

    id: Mapped[int] = mapped_column(primary_key=True)
    importer: Mapped[str] = mapped_column(sa.String(40))
    external_id: Mapped[str] = mapped_column(sa.String(200))
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("items.id", ondelete="CASCADE"), index=True)


class InventoryImport(Base):
    """One import that was run (dry runs write nothing, so they are not here)."""

    __tablename__ = "inventory_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    importer: Mapped[str] = mapped_column(sa.String(40), index=True)
    filename: Mapped[str] = mapped_column(sa.String(255))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    report: Mapped[dict[str, Any]] = mapped_column(sa.JSON)

    user: Mapped[User | None] = relationship(lazy="joined")
