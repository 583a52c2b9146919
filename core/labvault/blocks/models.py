"""Blocks attached to items."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from labvault.db import MYSQL_TABLE_OPTIONS, Base, utcnow


class Block(Base):
    __tablename__ = "blocks"
    __table_args__ = (sa.Index(None, "item_id", "position"), MYSQL_TABLE_OPTIONS)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("items.id", ondelete="CASCADE"))
    block_type: Mapped[str] = mapped_column(sa.String(60))
    title: Mapped[str] = mapped_column(sa.String(500), default="")
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    file_ids: Mapped[list[int]] = mapped_column(sa.JSON, default=list)
    computed: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    error: Mapped[str | None] = mapped_column(sa.Text)
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(default=1)
    #: The block type's ``version`` that computed ``computed`` (None: not known, as for a
    #: block computed before it was kept or restored from a version): another one than the
    #: type's current version is computed again when the block is next read.
    type_version: Mapped[str | None] = mapped_column(sa.String(40))


class BlockPlot(Base):
    """A block's rendered plot, kept in the file store: it is rendered again only when
    ``key`` (the block type, its version, the block's data and its files' names and
    contents) changes."""

    __tablename__ = "block_plots"
    __table_args__ = (MYSQL_TABLE_OPTIONS,)

    block_id: Mapped[int] = mapped_column(
        sa.ForeignKey("blocks.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(sa.String(64))
    #: The PNG's digest in the file store; None: the block type draws no plot of it.
    png_sha256: Mapped[str | None] = mapped_column(sa.String(64))
