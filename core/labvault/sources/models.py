"""The cached listings of file sources, and each source's state (age, error, lock)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from labvault.db import MYSQL_TABLE_OPTIONS, Base


class SourceEntry(Base):
    """One entry of a source's cached listing.

    Entries of one folder are found by the hash of the folder's path (a path is too long
    for a MariaDB index) and read in ``position`` order: folders first, then by name.
    """

    __tablename__ = "source_entries"
    __table_args__ = (
        sa.Index("ix_source_entries_folder", "source", "parent_hash", "position"),
        MYSQL_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(40))
    parent_hash: Mapped[str] = mapped_column(sa.String(64))
    position: Mapped[int]
    path: Mapped[str] = mapped_column(sa.String(1000))
    is_dir: Mapped[bool]
    size: Mapped[int | None] = mapped_column(sa.BigInteger)
    modified: Mapped[float | None] = mapped_column(sa.Double)


class SourceState(Base):
    """When a source's listing was built, its last error, and who is rebuilding it."""

    __tablename__ = "source_states"

    source: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    built_at: Mapped[dt.datetime | None]
    entry_count: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(sa.String(1000))
    error_at: Mapped[dt.datetime | None]
    #: The rebuild in progress: its holder's token, and when the lock lapses should the
    #: holder die.
    lock_token: Mapped[str | None] = mapped_column(sa.String(32))
    lock_expires_at: Mapped[dt.datetime | None]
