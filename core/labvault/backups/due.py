"""Which backup strategies are due: those whose last success is older than their
frequency, read from the settings and the strategies' states (their table, declared
here with Core; :class:`~labvault.backups.models.BackupState` maps it). ``labvault
backup due`` with nothing due imports nothing else of the backups, and no ORM."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from labvault.database import METADATA, MYSQL_TABLE_OPTIONS, UTCDateTime, utcnow
from labvault.settings import INTERVAL_PATTERN

#: One row per strategy that has run. Not part of snapshots: a restored server keeps its
#: own backup history (a snapshot taken while a backup runs would hold its lock).
backup_states = sa.Table(
    "backup_states",
    METADATA,
    sa.Column("strategy", sa.String(40), primary_key=True),
    sa.Column("last_run_at", UTCDateTime()),
    sa.Column("last_success_at", UTCDateTime()),
    sa.Column("last_snapshot", sa.String(64)),
    sa.Column("last_error", sa.String(1000)),
    #: The report of the last successful run (``last_report`` in ``GET /backups``).
    sa.Column("last_report", sa.JSON),
    #: The run in progress: its token, where it runs (host and process, so a run killed
    #: on this host is noticed at once), and when the lock lapses unless renewed.
    sa.Column("lock_token", sa.String(32)),
    sa.Column("lock_holder", sa.String(200)),
    sa.Column("lock_expires_at", UTCDateTime()),
    #: The newest snapshot of another installation in the strategy's repository when
    #: `labvault backup adopt` took the repository over (:mod:`~labvault.backups.installation`).
    sa.Column("adopted_snapshot", sa.String(64)),
    **MYSQL_TABLE_OPTIONS,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def interval(text: str) -> dt.timedelta:
    """A frequency of BACKUP_STRATEGIES ("12h") as a duration."""
    match = re.match(INTERVAL_PATTERN, text)
    if match is None:
        raise ValueError(f"not an interval: {text!r}")
    return dt.timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def due_strategies(
    connection: sa.Connection | Session,
    configured: Mapping[str, Mapping[str, Any]],
    now: dt.datetime | None = None,
) -> list[str]:
    """The strategies of ``configured`` (BACKUP_STRATEGIES) whose last success is older
    than their frequency, or that never ran (read on a connection or a session)."""
    now = now or utcnow()
    query = sa.select(backup_states.c.strategy, backup_states.c.last_success_at)
    last_success = {name: last for name, last in connection.execute(query)}
    return [
        name
        for name, entry in configured.items()
        if (last := last_success.get(name)) is None or now - last >= interval(entry["frequency"])
    ]
