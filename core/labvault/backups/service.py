"""Backup strategies: running them (one at a time each), retention, what they hold.

A run takes the strategy's lock (a row of ``backup_states``, renewed while the run
lasts and taken over at once when its holder was a process of this host that is gone),
dumps the database, stores the contents the repository lacks and the parts, commits the
snapshot with its manifest, and only then applies retention. A run that fails or is
killed commits nothing and removes nothing. The CLI runs a strategy in its own process
(:func:`run_strategy`); the API starts it in a thread of the server (:func:`start_strategy`).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from labvault.audit.service import CLI, Actor, record
from labvault.backups.archive import write_archive
from labvault.backups.codec import BackupError, Passphrase
from labvault.backups.manifest import ForgedSnapshot
from labvault.backups.models import BackupState
from labvault.backups.redaction import public_config
from labvault.backups.repository import Repository
from labvault.backups.restore import ArchiveSource, ReadReport, RepositorySource, read_snapshot
from labvault.backups.snapshot import Progress, dump_database, locked, no_progress, temporary_folder
from labvault.db import WRITE_OPTION, begin_write, first_line, insert_missing, utcnow
from labvault.errors import Conflict, NotFound
from labvault.files.storage import FileStore
from labvault.registry import BACKUP_TARGETS
from labvault.settings import INTERVAL_PATTERN
from labvault.web.session import close_session, get_session

#: A run's lock lapses this long after its last renewal (renewed every third of it).
LOCK_LEASE = dt.timedelta(minutes=2)
LOG = logging.getLogger("labvault.backups")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def interval(text: str) -> dt.timedelta:
    match = re.match(INTERVAL_PATTERN, text)
    if match is None:
        raise ValueError(f"not an interval: {text!r}")
    return dt.timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


@dataclass(frozen=True)
class Strategy:
    name: str
    frequency: dt.timedelta
    retention: int
    encryption_key_env: str | None
    compression_level: int

    def repository(self) -> Repository:
        target = current_app.extensions["labvault"].registry.instances_of(BACKUP_TARGETS)[self.name]
        passphrase = (
            Passphrase.from_environment(self.encryption_key_env, self.name)
            if self.encryption_key_env
            else None
        )
        return Repository(target, passphrase, self.compression_level)


def strategies() -> dict[str, Strategy]:
    configured: Mapping[str, Any] = current_app.extensions["labvault"].settings["BACKUP_STRATEGIES"]
    return {
        name: Strategy(
            name,
            interval(entry["frequency"]),
            entry["retention"],
            entry["encryption_key_env"],
            entry["compression_level"],
        )
        for name, entry in configured.items()
    }


def get_strategy(name: str) -> Strategy:
    found = strategies().get(name)
    if found is None:
        known = ", ".join(strategies()) or "none (see BACKUP_STRATEGIES)"
        raise NotFound(f"no backup strategy {name!r}; strategies: {known}")
    return found


def public_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` as a snapshot keeps them: without the secrets the schemas of this
    server's plugins and types declare, URL passwords, or secret-named values."""
    registry = current_app.extensions["labvault"].registry
    return public_config(settings, registry.settings_schemas(settings))


def file_store() -> FileStore:
    return FileStore(Path(current_app.extensions["labvault"].settings["FILE_DIRECTORY"]))


def _engine() -> sa.Engine:
    engine: sa.Engine = current_app.extensions["labvault"].database.engine
    return engine


# --- the lock ------------------------------------------------------------------------


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _holder_is_gone(holder: str | None) -> bool:
    """The lock's holder was a process of this host that no longer runs."""
    host, _, pid = (holder or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:  # a killed process its parent has not reaped yet (Linux) is gone too
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def lock_is_held(state: BackupState | None, now: dt.datetime) -> bool:
    """A run holds the strategy's lock: taken, not lapsed, and its holder still runs."""
    if state is None or state.lock_token is None:
        return False
    lapsed = (state.lock_expires_at or now) < now
    return not lapsed and not _holder_is_gone(state.lock_holder)


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
    state.lock_token, state.lock_holder = token, _holder()
    state.lock_expires_at = now + LOCK_LEASE
    state.last_run_at = now
    session.commit()

    stop = threading.Event()
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
        while not stop.wait(LOCK_LEASE.total_seconds() / 3):
            try:
                update_lock(lock_expires_at=utcnow() + LOCK_LEASE)
            except sa.exc.SQLAlchemyError as error:  # tried again at the next renewal
                LOG.warning("backup strategy %s: cannot renew its lock: %s", name, error)

    renewer = threading.Thread(target=renew, name=f"backup-lock-{name}", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()
        try:
            update_lock(lock_token=None, lock_holder=None, lock_expires_at=None)
        except sa.exc.SQLAlchemyError as error:  # it lapses by itself
            LOG.warning("backup strategy %s: cannot release its lock: %s", name, error)


def _finish(
    session: Session,
    name: str,
    actor: Actor | str | None,
    event: tuple[str, dict[str, Any]],
    **values: Any,
) -> None:
    """Write the run's outcome to the strategy's state, with its audit event."""
    begin_write(session)
    session.execute(sa.update(BackupState).where(BackupState.strategy == name).values(**values))
    action, details = event
    record(session, action, f"backup {name}", actor=actor, details=details)
    session.commit()


# --- running -------------------------------------------------------------------------


def run_strategy(
    session: Session,
    name: str,
    progress: Progress = no_progress,
    *,
    actor: Actor | str | None = None,
) -> dict[str, Any]:
    """Take a snapshot with strategy ``name``, then apply its retention. The report.

    The outcome, success or failure, is an audit event of ``actor`` (an admin, "cli").
    """
    strategy = get_strategy(name)
    with strategy_lock(session, name):
        return _run_and_record(session, strategy, progress, actor)


def start_strategy(session: Session, name: str, *, actor: Actor) -> dict[str, Any]:
    """Take strategy ``name``'s lock now (Conflict when it runs already) and run it in a
    thread of this process, which releases the lock when it ends: a request answers at
    once, whatever the size of the store, and the server's worker timeout does not cut
    the run short. Its outcome is in the strategy's state, and in the audit log (with
    ``backup.started`` noted now, with the client's address). The strategy's state as
    the run starts (``running``)."""
    strategy = get_strategy(name)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    who = _Acting(actor.id, actor.email)
    with ExitStack() as held:
        held.enter_context(strategy_lock(session, name))
        begin_write(session)
        record(session, "backup.started", f"backup {name}", actor=actor)
        session.commit()

        def work(lock: ExitStack) -> None:
            with lock, app.app_context():
                try:
                    _run_and_record(get_session(), strategy, no_progress, who)
                except Exception as error:  # in its state and the audit log; said here too
                    LOG.error("backup strategy %s failed: %s", name, first_line(error))
                finally:
                    close_session()

        answer = strategy_state(session, name)
        lock = held.pop_all()
    runner = threading.Thread(target=work, args=(lock,), name=f"backup-{name}")
    try:
        runner.start()
    except BaseException:
        lock.close()
        raise
    return answer


@dataclass(frozen=True)
class _Acting:
    """Who started a run in a thread of its own (not a row of the request's session)."""

    id: int
    email: str | None


def _run_and_record(
    session: Session, strategy: Strategy, progress: Progress, actor: Actor | str | None
) -> dict[str, Any]:
    """Run a strategy whose lock is held; its outcome goes to its state and the log."""
    name = strategy.name
    started = time.monotonic()
    try:
        report = _run(strategy, locked(progress))
    except BaseException as error:
        message = getattr(error, "message", None) or str(error) or type(error).__name__
        failed = ("backup.failed", {"error": message[:500]})
        _finish(session, name, actor, failed, last_error=message[:1000])
        raise
    report["seconds"] = round(time.monotonic() - started, 3)
    succeeded = (
        "backup.succeeded",
        {key: report[key] for key in ("snapshot", "rows", "files", "bytes", "seconds")},
    )
    _finish(
        session,
        name,
        actor,
        succeeded,
        last_success_at=utcnow(),
        last_snapshot=report["snapshot"],
        last_error=None,
        last_report=report,
    )
    return report


def record_restore(session: Session, snapshot: str, source: str, **counts: int) -> None:
    """Note a restore in the restored database (after its load: its own write), as the
    CLI's: a restore replaces the whole database, so it cannot share its transaction."""
    begin_write(session)
    details = {"source": source, **counts}
    record(session, "backup.restored", f"snapshot {snapshot}", actor=CLI, details=details)
    session.commit()


def _run(strategy: Strategy, progress: Progress) -> dict[str, Any]:
    repository = strategy.repository()
    repository.open(create=True)
    store = file_store()
    settings = current_app.extensions["labvault"].settings
    with temporary_folder() as folder:
        dump = dump_database(_engine(), public_settings(settings), Path(folder), progress)
        snapshot = dump.manifest["snapshot"]
        total = dump.contents_bytes
        puts = repository.put_contents(
            dump.contents(), store.open, lambda n: progress("copying files", n, total)
        )
        repository.put_parts(snapshot, [(part.name, part.path) for part in dump.parts])
        dump.manifest["encrypted"] = repository.encrypted
        dump.manifest["finished_at"] = utcnow().isoformat()
        repository.commit(snapshot, dump.manifest)
    collected = repository.collect(strategy.retention)
    return {
        "strategy": strategy.name,
        "snapshot": snapshot,
        "rows": sum(table["rows"] for table in dump.manifest["tables"]),
        "files": dump.contents_count,
        "bytes": dump.contents_bytes,
        "files_uploaded": puts.uploaded,
        "files_reused": puts.reused,
        "bytes_uploaded": puts.bytes_stored,
        "snapshots_removed": collected.snapshots_removed,
        "contents_removed": collected.contents_removed,
    }


def due_strategies(session: Session, now: dt.datetime | None = None) -> list[str]:
    """Strategies whose last success is older than their frequency (or that never ran)."""
    now = now or utcnow()
    states = {state.strategy: state for state in session.scalars(sa.select(BackupState))}
    due = []
    for name, strategy in strategies().items():
        state = states.get(name)
        last = state.last_success_at if state else None
        if last is None or now - last >= strategy.frequency:
            due.append(name)
    return due


def create_archive(path: Path, level: int = 6, progress: Progress = no_progress) -> dict[str, Any]:
    """Write one self-contained snapshot to ``path`` (a .tar.gz)."""
    started = time.monotonic()
    settings = current_app.extensions["labvault"].settings
    with temporary_folder() as folder:
        dump = dump_database(_engine(), public_settings(settings), Path(folder), progress)
        size = write_archive(dump, file_store().open, path, level, progress)
    return {
        "snapshot": dump.manifest["snapshot"],
        "path": str(path),
        "rows": sum(table["rows"] for table in dump.manifest["tables"]),
        "files": dump.contents_count,
        "bytes": dump.contents_bytes,
        "archive_bytes": size,
        "seconds": round(time.monotonic() - started, 3),
    }


# --- what strategies hold --------------------------------------------------------------


def snapshot_summary(manifest: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "snapshot": manifest["snapshot"],
        "created_at": manifest.get("started_at"),
        "labvault_version": manifest.get("labvault_version"),
        "revision": manifest.get("revision"),
        "database": manifest.get("database"),
        "rows": sum(table["rows"] for table in manifest["tables"]),
        "files": manifest["contents"]["count"],
        "bytes": manifest["contents"]["bytes"],
        "encrypted": bool(manifest.get("encrypted")),
    }


def snapshots_of(name: str, problems: list[str] | None = None) -> list[dict[str, Any]]:
    """Summaries of the snapshots strategy ``name`` keeps, oldest first. A damaged or
    forged one is left out, its problem added to ``problems`` (without it: raised)."""
    repository = get_strategy(name).repository()
    repository.open(create=False)
    summaries = []
    for snapshot in repository.snapshots():
        try:
            summaries.append(snapshot_summary(repository.manifest(snapshot)))
        except ForgedSnapshot as error:
            if problems is None:
                raise
            problems.append(error.message)
    return summaries


def overview(session: Session) -> list[dict[str, Any]]:
    """Every strategy: its settings, last run, last success, and its snapshots."""
    states = {state.strategy: state for state in session.scalars(sa.select(BackupState))}
    return [strategy_entry(name, states.get(name)) for name in strategies()]


def strategy_state(session: Session, name: str) -> dict[str, Any]:
    """One strategy as :func:`overview` shows it (NotFound when there is none)."""
    return strategy_entry(name, session.get(BackupState, name, populate_existing=True))


def strategy_entry(name: str, state: BackupState | None) -> dict[str, Any]:
    """A strategy's settings, its ``state`` and its snapshots (read from its target)."""
    strategy = get_strategy(name)
    entry: dict[str, Any] = {
        "name": name,
        "target": current_app.extensions["labvault"]
        .registry.instances_of(BACKUP_TARGETS)[name]
        .name,
        "frequency": current_app.extensions["labvault"].settings["BACKUP_STRATEGIES"][name][
            "frequency"
        ],
        "retention": strategy.retention,
        "encrypted": strategy.encryption_key_env is not None,
        "last_run_at": state.last_run_at if state else None,
        "last_success_at": state.last_success_at if state else None,
        "last_error": state.last_error if state else None,
        "last_report": state.last_report if state else None,
        "running": lock_is_held(state, utcnow()),  # not a run whose worker was killed
        "snapshots": [],
        "error": None,
    }
    problems: list[str] = []
    try:
        entry["snapshots"] = snapshots_of(name, problems)
        entry["error"] = "; ".join(problems) or None
    except BackupError as error:
        entry["error"] = error.message
    except Exception as error:  # the target's Unavailable, NotFound: shown, not raised
        entry["error"] = getattr(error, "message", None) or str(error)
    return entry


def verify(name: str, snapshot: str | None, progress: Progress = no_progress) -> list[ReadReport]:
    """Read every part and content of one snapshot of ``name``, or of all its snapshots."""
    repository = get_strategy(name).repository()
    repository.open(create=False)
    chosen = [snapshot] if snapshot else repository.snapshots()
    reports = []
    checked: set[str] = set()  # contents shared by snapshots are read once
    for each in chosen:
        with temporary_folder() as folder:
            try:
                source = RepositorySource(repository, each)
            except ForgedSnapshot as error:  # that snapshot's problem; the others are read
                reports.append(ReadReport({"snapshot": each}, problems=[error.message]))
                continue
            reports.append(
                read_snapshot(
                    source, Path(folder), None, strict=False, progress=progress, skip=checked
                )
            )
    return reports


def verify_archive(path: Path, progress: Progress = no_progress) -> ReadReport:
    source = ArchiveSource(path)
    try:
        with temporary_folder() as folder:
            return read_snapshot(source, Path(folder), None, strict=False, progress=progress)
    finally:
        source.close()
