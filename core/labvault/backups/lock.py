"""The lock of a backup strategy: one run at a time, across processes and hosts.

A run takes its strategy's lock (a row of ``backup_states``), renewed while the run
lasts and lapsing :data:`LOCK_LEASE` after its last renewal; one whose holder was a
process of this host that is gone is taken over at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labvault.backups.models import BackupState
from labvault.db import WRITE_OPTION, begin_write, insert_missing, utcnow
from labvault.errors import Conflict
from labvault.leases import holder, holder_is_gone, renewing

#: A run's lock lapses this long after its last renewal (renewed every third of it).
LOCK_LEASE = dt.timedelta(minutes=2)
LOG = logging.getLogger("labvault.backups")


def lock_is_held(state: BackupState | None, now: dt.datetime) -> bool:
    """A run holds the strategy's lock: taken, not lapsed, and its holder still runs."""
    if state is None or state.lock_token is None:
        return False
    lapsed = (state.lock_expires_at or now) < now
    return not lapsed and not holder_is_gone(state.lock_holder)


@contextmanager
def strategy_lock(session: Session, name: str) -> Iterator[None]:
    """Hold the strategy's lock (or raise Conflict), renewed in the background."""
    token = secrets.token_hex(16)
    begin_write(session)
    insert_missing(session, BackupState, {"strategy": name})
    state = session.get(BackupState, name, populate_existing=True, with_for_update=True)
    assert state is not None
    now = utcnow()
    if lock_is_held(state, now):
        session.rollback()
        raise Conflict(
            f"backup strategy {name} is running already (in {state.lock_holder}; its lock "
            f"lapses at {state.lock_expires_at:%Y-%m-%d %H:%M:%S} UTC unless renewed)"
        )
    state.lock_token, state.lock_holder = token, holder()
    state.lock_expires_at = now + LOCK_LEASE
    state.last_run_at = now
    session.commit()

    engine = session.get_bind()

    def writer() -> sa.Connection:
        return engine.connect().execution_options(**{WRITE_OPTION: True})  # type: ignore[union-attr]

    def update_lock(**values: Any) -> None:
        with writer() as connection, connection.begin():
            connection.execute(
                sa.update(BackupState)
                .where(BackupState.strategy == name, BackupState.lock_token == token)
                .values(**values)
            )

    def renew() -> None:
        try:
            update_lock(lock_expires_at=utcnow() + LOCK_LEASE)
        except sa.exc.SQLAlchemyError as error:  # tried again at the next renewal
            LOG.warning("backup strategy %s: cannot renew its lock: %s", name, error)

    try:
        with renewing(LOCK_LEASE.total_seconds() / 3, renew, f"backup-lock-{name}"):
            yield
    finally:
        try:
            update_lock(lock_token=None, lock_holder=None, lock_expires_at=None)
        except sa.exc.SQLAlchemyError as error:  # it lapses by itself
            LOG.warning("backup strategy %s: cannot release its lock: %s", name, error)
