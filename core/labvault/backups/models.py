"""Each backup strategy's state: its last run and last success, and who is running it;
and the id of this installation, which tells its snapshots from another server's."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from labvault.backups.due import backup_states
from labvault.db import Base


class BackupState(Base):
    """One row per strategy that has run (:data:`~labvault.backups.due.backup_states`,
    whose columns say what each holds)."""

    __table__ = backup_states

    strategy: Mapped[str]
    last_run_at: Mapped[dt.datetime | None]
    last_success_at: Mapped[dt.datetime | None]
    last_snapshot: Mapped[str | None]
    last_error: Mapped[str | None]
    last_report: Mapped[dict[str, Any] | None]
    lock_token: Mapped[str | None]
    lock_holder: Mapped[str | None]
    lock_expires_at: Mapped[dt.datetime | None]
    adopted_snapshot: Mapped[str | None]


class Installation(Base):
    """This installation's id (one row): every server on this database shares it, a
    snapshot's manifest records it, and a restore never carries it (not dumped, kept
    across a restore), so a server restored from another's backup keeps its own."""

    __tablename__ = "installation"

    #: Always 1: two processes making the id at once make one row.
    singleton: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    installation_id: Mapped[str] = mapped_column(sa.String(36))
    created_at: Mapped[dt.datetime]
