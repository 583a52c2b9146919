"""Which backup strategies are due: those whose last success is older than their
frequency. A module of its own, read from the settings and one table: ``labvault backup
due`` with nothing due imports nothing else of the backups (no target, repository or
model but :class:`~labvault.backups.models.BackupState`)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from labvault.backups.models import BackupState
from labvault.db import utcnow
from labvault.settings import INTERVAL_PATTERN

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
    session: Session, configured: Mapping[str, Mapping[str, Any]], now: dt.datetime | None = None
) -> list[str]:
    """The strategies of ``configured`` (BACKUP_STRATEGIES) whose last success is older
    than their frequency, or that never ran."""
    now = now or utcnow()
    query = sa.select(BackupState.strategy, BackupState.last_success_at)
    last_success = {name: last for name, last in session.execute(query)}
    return [
        name
        for name, entry in configured.items()
        if (last := last_success.get(name)) is None or now - last >= interval(entry["frequency"])
    ]
