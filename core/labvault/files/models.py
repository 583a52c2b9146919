"""Uploaded files (metadata; content lives in the store by sha256) and their item links."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from labvault.auth.models import User
from labvault.db import MYSQL_TABLE_OPTIONS, Base, utcnow


class StoredFile(Base):
    """One upload: its name and media type, and the content it points to by digest."""

    __tablename__ = "files"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    size: Mapped[int] = mapped_column(sa.BigInteger)
    name: Mapped[str] = mapped_column(sa.String(255))
    media_type: Mapped[str] = mapped_column(sa.String(255))
    #: Where it came from: "upload", or "<file source>:<path>".
    origin: Mapped[str] = mapped_column(sa.String(1000), default="upload")
    #: For a copy from a file source: the source, the path, what the original was when
    #: copied (size, modified time) and when that was last checked.
    source: Mapped[str | None] = mapped_column(sa.String(40))
    source_path: Mapped[str | None] = mapped_column(sa.String(1000))
    remote_size: Mapped[int | None] = mapped_column(sa.BigInteger)
    remote_modified: Mapped[float | None] = mapped_column(sa.Double)
    checked_at: Mapped[dt.datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    created_by: Mapped[User | None] = relationship(lazy="joined")


item_files = sa.Table(
    "item_files",
    Base.metadata,
    sa.Column("item_id", sa.ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
    sa.Column(
        "file_id", sa.ForeignKey("files.id", ondelete="CASCADE"), primary_key=True, index=True
    ),
    **MYSQL_TABLE_OPTIONS,
)
