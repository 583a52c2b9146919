"""Each backup strategy's state: its last run and last success, and who is running it;
and the id of this installation, which tells its snapshots from another server's."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from labvault.db import Base


class BackupState(Base):
    """One row per strategy that has run. Not part of snapshots: a restored server keeps
    its own backup history (a snapshot taken while a backup runs would hold its lock)."""

    __tablename__ = "backup_states"

    strategy: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    last_run_at: Mapped[dt.datetime | None]
    last_success_at: Mapped[dt.datetime | None]
    last_snapshot: Mapped[str | None] = mapped_column(sa.String(64))
    last_error: Mapped[str | None] = mapped_column(sa.String(1000))
    #: The report of the last successful run (``last_report`` in ``GET /backups``).
    last_report: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    #: The run in progress: its token, where it runs (host and process, so a run killed
    #: on this host is noticed at once), and when the lock lapses unless renewed.
    lock_token: Mapped[str | None] = mapped_column(sa.String(32))
    lock_holder: Mapped[str | None] = mapped_column(sa.String(200))
    lock_expires_at: Mapped[dt.datetime | None]
    #: The newest snapshot of another installation in the strategy's repository when
    #: `labvault backup adopt` took the repository over (:mod:`~labvault.backups.installation`).
    adopted_snapshot: Mapped[str | None] = mapped_column(sa.String(64))


class Installation(Base):
    """This installation's id (one row): every server on this database shares it, a
    snapshot's manifest records it, and a restore never carries it (not dumped, kept
    across a restore), so a server restored from another's backup keeps its own."""

    __tablename__ = "installation"

    #: Always 1: two processes making the id at once make one row.
    singleton: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    installation_id: Mapped[str] = mapped_column(sa.String(36))
    created_at: Mapped[dt.datetime]
