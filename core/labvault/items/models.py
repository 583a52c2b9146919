"""Items, their creators and relationships, and the versions that keep every change."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from labvault.auth.models import User
from labvault.db import MYSQL_TABLE_OPTIONS, Base, utcnow


class Relation(enum.StrEnum):
    PARENT = "parent"
    CHILD = "child"
    IS_PART_OF = "is_part_of"
    OTHER = "other"


item_creators = sa.Table(
    "item_creators",
    Base.metadata,
    sa.Column("item_id", sa.ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
    sa.Column(
        "user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    ),
    **MYSQL_TABLE_OPTIONS,
)


class Item(Base):
    __tablename__ = "items"
    #: A list of one type reads its items newest first from it, and counts the lab-wide
    #: items not in the trash from it alone: a list counts its total from them first
    #: (labvault.items.lists). deleted_at last: PostgreSQL reads no order past an
    #: ``IS NULL``; type first: with deleted_at first, SQLite reads a page of the
    #: unfiltered list by that index and sorts it, not by updated_at. It serves where an
    #: index of type alone would: with one, MariaDB intersects the rows of a type with
    #: those not in the trash (every item) instead of reading this one (migration 0017).
    #: The second holds what a list checks of each item it counts or filters by id (a
    #: set of matches of a field filter, of a search): on SQLite the item is read from it,
    #: not from its row with the texts and fields (migration 0020).
    __table_args__ = (
        sa.Index(None, "type", "updated_at", "id", "deleted_at"),
        sa.Index(None, "id", "type", "deleted_at"),
        MYSQL_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Immutable ``PREFIX:XXXXXX``.
    refcode: Mapped[str] = mapped_column(sa.String(17), unique=True)
    #: Human-readable, editable; unique among the items one user may know of when it is
    #: set (``items.service``), not in the whole database: that would tell who chose one
    #: that another's hidden item has.
    item_id: Mapped[str] = mapped_column(sa.String(40), index=True)
    type: Mapped[str] = mapped_column(sa.String(20))
    name: Mapped[str] = mapped_column(sa.String(500), default="")
    description: Mapped[str] = mapped_column(sa.Text, default="")
    date: Mapped[dt.date | None]
    status: Mapped[str] = mapped_column(sa.String(40), index=True)
    #: The fields of the item's type (validated by its schema).
    fields: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    #: What full-text search looks at (labvault.items.texts), kept in step with the item by
    #: the service; each database indexes them as labvault.search.ddl says.
    search_title: Mapped[str] = mapped_column(sa.String(700), default="")
    search_body: Mapped[str] = mapped_column(sa.Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    #: Counts every change (item, its blocks and files); the ETag and version number.
    version: Mapped[int] = mapped_column(default=1)
    #: Set while the item is in the trash.
    deleted_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    deleted_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )

    creators: Mapped[list[User]] = relationship(
        secondary=item_creators, lazy="selectin", order_by=User.id
    )
    relationships: Mapped[list[ItemRelationship]] = relationship(
        foreign_keys="ItemRelationship.item_id",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="ItemRelationship.id",
    )


class ItemRelationship(Base):
    """``item`` relates to ``target``: e.g. relation ``parent`` means target is its parent."""

    __tablename__ = "item_relationships"
    __table_args__ = (
        sa.UniqueConstraint("item_id", "target_id", "relation", "origin"),
        MYSQL_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("items.id", ondelete="CASCADE"))
    target_id: Mapped[int] = mapped_column(
        sa.ForeignKey("items.id", ondelete="CASCADE"), index=True
    )
    relation: Mapped[str] = mapped_column(sa.String(20))
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    #: "manual" when set directly; "synthesis" or "cell" when derived from the fields.
    origin: Mapped[str] = mapped_column(sa.String(20), default="manual")

    target: Mapped[Item] = relationship(foreign_keys=[target_id], lazy="joined")


class ItemFieldValue(Base):
    """One value of a field an item's type declares ``filterable``: kept in the item's
    write (:mod:`labvault.items.field_values`), so a list filtered or sorted by such a
    field reads an index, whatever the type. A list field has a row per element; an
    absent or null value has none. Text is kept to its first 255 characters."""

    __tablename__ = "item_field_values"
    __table_args__ = (
        sa.Index(None, "name", "text_value", "item_id"),
        sa.Index(None, "name", "number_value", "item_id"),
        #: Whether one item has a value that meets a condition (from the index alone for
        #: a number): a list that walks items checks each one by it. Name first: MariaDB
        #: reads a list's matches by it in the order of item_id too (a "LooseScan"),
        #: which with item_id first it would read through every value of every field.
        sa.Index(None, "name", "item_id", "number_value"),
        MYSQL_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("items.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(40))
    #: Strings and dates (as ISO text).
    text_value: Mapped[str | None] = mapped_column(sa.String(255))
    #: Numbers and booleans (0 or 1).
    number_value: Mapped[float | None] = mapped_column(sa.Double())


class ItemVersion(Base):
    """A full snapshot of an item (with blocks and files) after one change."""

    __tablename__ = "item_versions"
    __table_args__ = (sa.UniqueConstraint("item_id", "number"), MYSQL_TABLE_OPTIONS)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("items.id", ondelete="CASCADE"))
    number: Mapped[int]
    #: create, update, delete, restore, block_create, block_update, block_delete,
    #: block_order, file_add, file_remove
    action: Mapped[str] = mapped_column(sa.String(30))
    snapshot: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    user: Mapped[User | None] = relationship(lazy="joined")
