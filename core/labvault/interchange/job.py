"""Exports run in the background (``POST /exports``): a collection, everything a user may
read, or an item with its related items, written by an interchange format into the file
store as a job (the ``export`` job type), then downloaded by the user who asked for it
(``GET /exports/<job id>/download``).

The archive is content of the file store, named by its sha256 in the job's result; the
file store's garbage collection keeps it for :data:`KEPT_DAYS` after the job finished
(``labvault files gc`` removes it after that), and any server of a site reads it from
there, whichever server wrote it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

import sqlalchemy as sa

from labvault.db import begin_write, utcnow
from labvault.errors import Invalid, NotFound
from labvault.jobs.models import JobRecord, JobState
from labvault.plugin import Host, InterchangeFormat, Job, JobType
from labvault.registry import INTERCHANGE_FORMATS, Registry

if TYPE_CHECKING:  # what an export reads is imported by the first one (the CLI starts light)
    from sqlalchemy.orm import Session

    from labvault.auth.models import User
    from labvault.database import Database
    from labvault.files.storage import FileStore
    from labvault.interchange.exports import Chosen
    from labvault.jobs.service import Jobs

#: The job type of an export run in the background.
JOB_TYPE = "export"
#: Days an export's archive is kept for download after its job finished.
KEPT_DAYS = 7


class Exporting(Protocol):
    """What an export job runs with: the server's (or a command's) state."""

    @property
    def settings(self) -> Mapping[str, Any]: ...
    @property
    def registry(self) -> Registry: ...
    @property
    def database(self) -> Database: ...
    @property
    def file_store(self) -> FileStore: ...


def selection(body: Mapping[str, Any]) -> dict[str, Any]:
    """The payload of an export job from a validated ``POST /exports`` body: its format,
    versions, and one of ``item`` (with ``depth``), ``collection`` or ``all``."""
    chosen = [key for key in ("item", "collection", "all") if body.get(key)]
    if len(chosen) != 1:
        raise Invalid(
            "give one of item, collection and all",
            {"_schema": ["give one of item, collection and all"]},
        )
    if body.get("depth") and chosen != ["item"]:
        raise Invalid("depth goes with item", {"depth": ["goes with item"]})
    return {
        "format": body["format"],
        "versions": bool(body.get("versions")),
        "item": body.get("item"),
        "depth": int(body.get("depth") or 0),
        "collection": body.get("collection"),
        "all": bool(body.get("all")),
    }


def choose(session: Session, user: User, payload: Mapping[str, Any]) -> Chosen:
    """The items an export job's payload chooses, as ``user`` may read them now."""
    from labvault.interchange import exports

    if payload["item"]:
        return exports.choose_item(session, user, payload["item"], payload["depth"])
    if payload["collection"]:
        return exports.choose_collection(session, user, payload["collection"])
    return exports.choose_all(session, user)


def start_export(
    session: Session,
    jobs: Jobs,
    formats: Mapping[str, InterchangeFormat],
    user: User,
    payload: dict[str, Any],
) -> int:
    """Record an export job for ``user`` and hand it to the job runner: its id. What it
    chooses is checked now (a collection or item the user may not read is NotFound, an
    unknown format too), so a refusal is the request's answer."""
    from labvault.jobs.service import record_job

    if payload["format"] not in formats:
        enabled = ", ".join(sorted(formats)) or "none"
        raise NotFound(f"no export format {payload['format']!r} (enabled: {enabled})")
    choose(session, user, payload)
    begin_write(session)
    job_id, _ = record_job(session, jobs.job_type(JOB_TYPE), payload, user_id=user.id)
    session.commit()
    jobs.submit(job_id)
    return job_id


class ExportRun(JobType):
    """Payload as :func:`selection` makes it; run for the job's user, as they may read
    the items when it runs. Its result names the archive: ``name``, ``media_type``,
    ``sha256``, ``size`` and ``items``. A repeated attempt writes the archive again
    (identical content is stored once)."""

    name = JOB_TYPE
    description = "Write an export of items for its owner to download"
    max_attempts = 3
    retry_delay = 30.0

    def __init__(self, state: Exporting, host: Host) -> None:
        super().__init__(self.name, {}, host)
        self._state = state

    def run(self, job: Job) -> dict[str, Any]:
        from labvault.auth.models import User
        from labvault.interchange import exports

        state = self._state
        formats = state.registry.instances_of(INTERCHANGE_FORMATS)
        payload = job.payload
        written = formats.get(payload["format"])
        if written is None:
            raise NotFound(f"no export format {payload['format']!r} is enabled any more")
        with state.database.sessionmaker() as session:
            user = None if job.user_id is None else session.get(User, job.user_id)
            if user is None or not user.is_active:
                raise NotFound("the user who asked for the export is gone")
            chosen = choose(session, user, payload)
            export = exports.Exporter.of(state).export(
                session, user, chosen, versions=payload["versions"]
            )
        store = state.file_store
        temp = store.writer()
        try:
            for chunk in written.write(export):
                temp.write(chunk)
        except BaseException:
            temp.discard()
            raise
        content = store.keep(temp)
        return {
            "name": f"{export.name}{written.file_extension}",
            "media_type": written.media_type,
            "sha256": content.sha256,
            "size": content.size,
            "items": len(chosen.item_ids),
        }


def finished_export(session: Session, job_id: int, user: User, *, admin: bool) -> dict[str, Any]:
    """The result of export job ``job_id`` to download: NotFound unless it is an export
    of ``user``'s (or ``admin`` asks) that succeeded within :data:`KEPT_DAYS` (the
    message says what it is otherwise)."""
    row = session.get(JobRecord, job_id)
    if row is None or row.type != JOB_TYPE or not (admin or row.user_id == user.id):
        raise NotFound(f"there is no export {job_id}")
    if row.state != JobState.SUCCEEDED or row.result is None:
        error = f" ({row.error})" if row.error else ""
        raise NotFound(f"export {job_id} has no archive: it is {row.state}{error}")
    if row.finished_at is not None and row.finished_at < utcnow() - dt.timedelta(days=KEPT_DAYS):
        raise NotFound(f"export {job_id} was kept {KEPT_DAYS} days and is gone")
    return dict(row.result)


def kept_archives(session: Session) -> set[str]:
    """The sha256 of every export archive still kept for download (garbage collection
    keeps them)."""
    since = utcnow() - dt.timedelta(days=KEPT_DAYS)
    rows = session.scalars(
        sa.select(JobRecord.result).where(
            JobRecord.type == JOB_TYPE,
            JobRecord.state == JobState.SUCCEEDED.value,
            JobRecord.finished_at >= since,
        )
    )
    return {str(result["sha256"]) for result in rows if result and result.get("sha256")}
