"""Collections, the items in them and who they are shared with."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from labvault.auth.models import User
from labvault.db import MYSQL_TABLE_OPTIONS, Base, utcnow

collection_items = sa.Table(
    "collection_items",
    Base.metadata,
    sa.Column(
        "collection_id", sa.ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "item_id", sa.ForeignKey("items.id", ondelete="CASCADE"), primary_key=True, index=True
    ),
    **MYSQL_TABLE_OPTIONS,
)


class Collection(Base):
    __tablename__ = "collections"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Unique, human-readable name used in URLs.
    collection_id: Mapped[str] = mapped_column(sa.String(40), unique=True)
    title: Mapped[str] = mapped_column(sa.String(500), default="")
    description: Mapped[str] = mapped_column(sa.Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    created_by: Mapped[User | None] = relationship(lazy="joined")
    shares: Mapped[list[CollectionShare]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="CollectionShare.user_id"
    )


class CollectionShare(Base):
    """``user`` may read (``read``) or also change (``write``) the collection's items."""

    __tablename__ = "collection_shares"

    collection_id: Mapped[int] = mapped_column(
        sa.ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    permission: Mapped[str] = mapped_column(sa.String(10))

    user: Mapped[User] = relationship(lazy="joined")
