"""What backup strategies hold: their snapshots, the state of their runs, and reading
snapshots again to verify every checksum."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labvault.backups.codec import BackupError
from labvault.backups.job import JOB_TYPE
from labvault.backups.lock import lock_is_held
from labvault.backups.manifest import ForgedSnapshot
from labvault.backups.models import BackupState
from labvault.backups.reading import ArchiveSource, ReadReport, RepositorySource, read_snapshot
from labvault.backups.snapshot import Progress, no_progress, temporary_folder
from labvault.backups.strategies import Backups, Strategy
from labvault.db import utcnow
from labvault.jobs.service import unfinished_keys


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


def snapshots_of(
    backups: Backups, name: str, problems: list[str] | None = None
) -> list[dict[str, Any]]:
    """Summaries of the snapshots strategy ``name`` keeps, oldest first. A damaged or
    forged one is left out, its problem added to ``problems`` (without it: raised)."""
    repository = backups.strategy(name).repository()
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


def overview(session: Session, backups: Backups) -> list[dict[str, Any]]:
    """Every strategy: its settings, last run, last success, and its snapshots."""
    states = {state.strategy: state for state in session.scalars(sa.select(BackupState))}
    jobs = unfinished_keys(session, JOB_TYPE)
    return [
        strategy_entry(backups, strategy, states.get(name), jobs.get(name))
        for name, strategy in backups.strategies().items()
    ]


def strategy_state(session: Session, backups: Backups, name: str) -> dict[str, Any]:
    """One strategy as :func:`overview` shows it (NotFound when there is none)."""
    strategy = backups.strategy(name)
    state = session.get(BackupState, name, populate_existing=True)
    return strategy_entry(backups, strategy, state, unfinished_keys(session, JOB_TYPE).get(name))


def strategy_entry(
    backups: Backups, strategy: Strategy, state: BackupState | None, job: int | None = None
) -> dict[str, Any]:
    """A strategy's settings, its ``state`` and its snapshots (read from its target);
    ``job``: the unfinished job of a run the API started (``GET /jobs/<id>``)."""
    name = strategy.name
    entry: dict[str, Any] = {
        "name": name,
        "target": strategy.target.name,
        "frequency": strategy.every,
        "retention": strategy.retention,
        "encrypted": strategy.encryption_key_env is not None,
        "last_run_at": state.last_run_at if state else None,
        "last_success_at": state.last_success_at if state else None,
        "last_error": state.last_error if state else None,
        "last_report": state.last_report if state else None,
        # not a run whose worker was killed (unless its job is taken up again)
        "running": job is not None or lock_is_held(state, utcnow()),
        "job": job,
        "snapshots": [],
        "error": None,
    }
    problems: list[str] = []
    try:
        entry["snapshots"] = snapshots_of(backups, name, problems)
        entry["error"] = "; ".join(problems) or None
    except BackupError as error:
        entry["error"] = error.message
    except Exception as error:  # the target's Unavailable, NotFound: shown, not raised
        entry["error"] = getattr(error, "message", None) or str(error)
    return entry


def verify(
    backups: Backups, name: str, snapshot: str | None, progress: Progress = no_progress
) -> list[ReadReport]:
    """Read every part and content of one snapshot of ``name``, or of all its snapshots."""
    repository = backups.strategy(name).repository()
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
