"""Which item each record of an imported archive became."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from labvault.db import Base, utcnow


class ImportedRecord(Base):
    """The item a record of an archive became: the record by its format, the software
    that wrote the archive and its key there (a crate's ``@id``), together as
    ``origin`` (their sha256: keys may be long URLs), which is unique, so importing the
    same archive again finds the item and makes no other."""

    __tablename__ = "imported_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    origin: Mapped[str] = mapped_column(sa.String(64), unique=True)
    format: Mapped[str] = mapped_column(sa.String(40))
    exporter: Mapped[str] = mapped_column(sa.String(500))
    key: Mapped[str] = mapped_column(sa.Text)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("items.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
