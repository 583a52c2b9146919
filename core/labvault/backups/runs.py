"""Running backup strategies (one at a time each, :mod:`~labvault.backups.lock`),
retention, and one-off archives.

A run takes the strategy's lock, dumps the database, stores the contents the repository
lacks and the parts, commits the snapshot with its manifest, and only then applies
retention. A run that fails or is killed commits nothing and removes nothing. The CLI
runs a strategy in its own process (:func:`run_strategy`); the API records a job that
the job runner runs (:func:`start_strategy`, :class:`BackupRun`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labvault.audit.service import CLI, Actor, record
from labvault.backups.archive import write_archive
from labvault.backups.installation import adopted_snapshot, check_owner, installation_id
from labvault.backups.job import JOB_TYPE
from labvault.backups.lock import lock_is_held, strategy_lock
from labvault.backups.models import BackupState
from labvault.backups.reports import strategy_state
from labvault.backups.repository import CHUNKS, Repository
from labvault.backups.snapshot import (
    Previous,
    Progress,
    dump_database,
    locked,
    no_progress,
    temporary_folder,
)
from labvault.backups.strategies import Backups, Strategy
from labvault.db import begin_write, insert_missing, utcnow
from labvault.errors import Conflict
from labvault.jobs.service import Jobs, record_job


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


def run_strategy(
    session: Session,
    backups: Backups,
    name: str,
    progress: Progress = no_progress,
    *,
    actor: Actor | str | None = None,
) -> dict[str, Any]:
    """Take a snapshot with strategy ``name``, then apply its retention. The report.

    The outcome, success or failure, is an audit event of ``actor`` (an admin, "cli").
    """
    strategy = backups.strategy(name)
    with strategy_lock(session, name):
        return _run_and_record(session, backups, strategy, progress, actor)


def start_strategy(
    session: Session, backups: Backups, jobs: Jobs, name: str, *, actor: Actor
) -> dict[str, Any]:
    """Record a job that runs strategy ``name`` (:class:`~labvault.backups.job.BackupRun`)
    and hand it to the job runner: a request answers at once, whatever the size of the store, the
    server's worker timeout does not cut the run short, and a run whose process dies
    is taken up again. Conflict when the strategy runs already (its lock is held, or
    its job has not finished) or its repository is another installation's. The audit
    log notes ``backup.started`` now, in ``session`` (with the client's address). The
    strategy's state as the run starts (``running``, with its ``job``)."""
    strategy = backups.strategy(name)
    if lock_is_held(session.get(BackupState, name, populate_existing=True), utcnow()):
        raise Conflict(f"backup strategy {name} is running already")
    _refuse_a_foreign_repository(session, strategy)
    begin_write(session)
    job_id, created = record_job(
        session, jobs.job_type(JOB_TYPE), {"strategy": name}, key=name, user_id=actor.id
    )
    if not created:
        session.rollback()
        raise Conflict(f"backup strategy {name} is running already (job {job_id})")
    insert_missing(session, BackupState, {"strategy": name})
    session.execute(
        sa.update(BackupState).where(BackupState.strategy == name).values(last_run_at=utcnow())
    )
    record(session, "backup.started", f"backup {name}", actor=actor, details={"job": job_id})
    session.commit()
    jobs.submit(job_id)
    return strategy_state(session, backups, name)


def _refuse_a_foreign_repository(session: Session, strategy: Strategy) -> None:
    """Conflict now (the request's answer, 409) if the repository is another
    installation's; any other problem is the run's, reported in the strategy's state."""
    try:
        own = installation_id(session)
        check_owner(
            strategy.name, strategy.repository(), own, adopted_snapshot(session, strategy.name)
        )
    except Conflict:
        raise
    except Exception:  # a target may fail in its own ways: the run meets them again
        session.rollback()


@dataclass(frozen=True)
class Acting:
    """Who started a run, as its job knows them (not a row of a session that ends)."""

    id: int
    email: str | None


def _run_and_record(
    session: Session,
    backups: Backups,
    strategy: Strategy,
    progress: Progress,
    actor: Actor | str | None,
) -> dict[str, Any]:
    """Run a strategy whose lock is held; its outcome goes to its state and the log."""
    name = strategy.name
    started = time.monotonic()
    try:
        own = installation_id(session)
        adopted = adopted_snapshot(session, name)
        report = _run(backups, strategy, locked(progress), own, adopted)
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


def _run(
    backups: Backups, strategy: Strategy, progress: Progress, own: str, adopted: str | None
) -> dict[str, Any]:
    """A snapshot by installation ``own``, into a repository whose newest snapshot is its
    own (or ``adopted``)."""
    repository = strategy.repository()
    repository.open(create=True)
    check_owner(strategy.name, repository, own, adopted)
    with temporary_folder() as folder:
        settings = backups.public_settings()
        dump = dump_database(
            backups.engine,
            settings,
            Path(folder),
            progress,
            metadata=backups.metadata,
            installation=own,
            previous=_previous(repository),
        )
        snapshot = dump.manifest["snapshot"]
        total = dump.contents_bytes
        puts = repository.put_contents(
            dump.contents(), backups.store.open, lambda n: progress("copying files", n, total)
        )
        chunks = repository.put_chunks((part.path, part.chunks) for part in dump.parts)
        dump.list_chunks()
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
        "chunks_uploaded": chunks.uploaded,
        "chunks_reused": chunks.reused,
        "dump_bytes_uploaded": chunks.bytes_stored,
        "snapshots_removed": collected.snapshots_removed,
        "contents_removed": collected.contents_removed,
        "chunks_removed": collected.chunks_removed,
    }


def _previous(repository: Repository) -> Previous | None:
    """The repository's newest snapshot, whose unchanged tables a dump reuses."""
    newest = max(repository.snapshots(), default=None)
    if newest is None:
        return None
    stored = set(repository.keys(CHUNKS))
    return Previous(
        repository.manifest(newest), lambda sha256: repository.chunk_key(sha256) in stored
    )


def create_archive(
    backups: Backups, path: Path, level: int = 6, progress: Progress = no_progress
) -> dict[str, Any]:
    """Write one self-contained snapshot to ``path`` (a .tar.gz)."""
    started = time.monotonic()
    with backups.database.sessionmaker() as session:
        own = installation_id(session)
    with temporary_folder() as folder:
        settings = backups.public_settings()
        dump = dump_database(
            backups.engine,
            settings,
            Path(folder),
            progress,
            metadata=backups.metadata,
            installation=own,
        )
        size = write_archive(dump, backups.store.open, path, level, progress)
    return {
        "snapshot": dump.manifest["snapshot"],
        "path": str(path),
        "rows": sum(table["rows"] for table in dump.manifest["tables"]),
        "files": dump.contents_count,
        "bytes": dump.contents_bytes,
        "archive_bytes": size,
        "seconds": round(time.monotonic() - started, 3),
    }
