"""Recording, claiming and running jobs (:class:`Jobs`, the host's ``jobs``).

A job is claimed by one conditional UPDATE (its state, claim token and attempt count
as read must still hold), which one of two processes wins on every database; the
winner holds it for ``JOB_LEASE`` seconds, renewed while it runs, and records the
outcome only while it still holds it. A job whose holder died (a process of this host
that is gone, or a lease that lapsed) is claimed again, as a new attempt; a failed
attempt is queued again after its type's growing delay, until its last attempt.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable, Mapping
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labvault.db import WRITE_OPTION, Database, begin_write, first_line, utcnow
from labvault.errors import DomainError, Invalid, NotFound, Unavailable
from labvault.jobs.models import UNFINISHED, JobRecord, JobState
from labvault.leases import holder, holder_is_gone, renewing
from labvault.plugin import Job, JobQueue, JobRunner, JobType

LOG = logging.getLogger("labvault.jobs")
#: The longest wait between two attempts of a job.
MAX_RETRY_DELAY = 3600.0


def retry_delay(job_type: JobType, attempts: int) -> dt.timedelta:
    """The wait after a failed attempt ``attempts`` (1 for the first)."""
    seconds = job_type.retry_delay * 2 ** max(attempts - 1, 0)
    return dt.timedelta(seconds=min(seconds, MAX_RETRY_DELAY))


def is_retried(error: BaseException) -> bool:
    """Whether an attempt that raised ``error`` is tried again: a service that could not
    be reached, or an unexpected error; not a job that asks for what cannot be."""
    return isinstance(error, Unavailable) or not isinstance(error, DomainError)


def record_job(
    session: Session,
    job_type: JobType,
    payload: Mapping[str, Any],
    *,
    key: str | None = None,
    user_id: int | None = None,
) -> tuple[int, bool]:
    """Add a job in ``session``'s write transaction (the caller commits): its id and
    True, or the id of the unfinished job of that type and ``key`` and False."""
    begin_write(session)
    if key is not None:
        found = _unfinished(session, job_type.name, key)
        if found is not None:
            return found, False
    row = JobRecord(
        type=job_type.name,
        key=key,
        live_key=key,
        payload=dict(payload),
        user_id=user_id,
        max_attempts=max(job_type.max_attempts, 1),
        run_after=utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(row)
    except sa.exc.IntegrityError:  # recorded meanwhile by another request
        found = _unfinished(session, job_type.name, key or "")
        if found is None or key is None:
            raise
        return found, False
    return row.id, True


def _unfinished(session: Session, job_type: str, key: str) -> int | None:
    return session.scalar(
        sa.select(JobRecord.id).where(JobRecord.type == job_type, JobRecord.live_key == key)
    )


def unfinished_keys(session: Session, job_type: str) -> dict[str, int]:
    """The keys of the unfinished jobs of ``job_type``, each with its job's id."""
    rows = session.execute(
        sa.select(JobRecord.live_key, JobRecord.id).where(
            JobRecord.type == job_type, JobRecord.live_key.is_not(None)
        )
    )
    return {key: job_id for key, job_id in rows if key is not None}


def job_document(session: Session, job_id: int, *, user_id: int, admin: bool) -> dict[str, Any]:
    """Job ``job_id`` as ``GET /jobs/<id>`` shows it; NotFound unless it is ``user_id``'s
    or ``admin`` reads it (another's job is as unknown as one that never was)."""
    row = session.get(JobRecord, job_id)
    if row is None or not (admin or row.user_id == user_id):
        raise NotFound(f"there is no job {job_id}")
    return {
        "id": row.id,
        "type": row.type,
        "key": row.key,
        "state": row.state,
        "payload": row.payload,
        "user_id": row.user_id,
        "attempts": row.attempts,
        "max_attempts": row.max_attempts,
        "run_after": row.run_after if row.state == JobState.QUEUED else None,
        "result": row.result,
        "error": row.error,
        "created_at": row.created_at,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
    }


def _lapsed(row: Any, now: dt.datetime) -> bool:
    """A running job whose holder is gone: its claim lapsed, or its process died."""
    return (row.claimed_until or now) < now or holder_is_gone(row.claimed_by)


class Jobs(JobQueue):
    """The jobs of one database, run by ``runner`` (its ``submit`` for each new job).

    ``types`` are the enabled job types by name; ``lease`` the seconds a claim holds
    without being renewed (``JOB_LEASE``).
    """

    def __init__(
        self,
        database: Database,
        types: Mapping[str, JobType],
        runner: Callable[[], JobRunner],
        lease: float,
    ) -> None:
        self._database = database
        self.types = types
        self._runner = runner
        self._lease = dt.timedelta(seconds=lease)

    @property
    def runner(self) -> JobRunner:
        return self._runner()

    def job_type(self, name: str) -> JobType:
        """The enabled job type ``name``; Invalid (a bug of the caller) otherwise."""
        try:
            return self.types[name]
        except KeyError:
            raise Invalid(f"there is no job type {name!r}") from None

    # --- recording ------------------------------------------------------------------------

    def enqueue(
        self,
        job_type: str,
        payload: Mapping[str, Any],
        *,
        key: str | None = None,
        user_id: int | None = None,
    ) -> int:
        typ = self.job_type(job_type)
        with self._database.sessionmaker() as session:
            job_id, created = record_job(session, typ, payload, key=key, user_id=user_id)
            session.commit()
        if created:
            self.submit(job_id)
        return job_id

    def submit(self, job_id: int) -> None:
        """Hand a recorded (committed) job to the runner. A runner that fails leaves it
        queued: it is found again by ``due`` (logged, not raised: it was recorded)."""
        try:
            self.runner.submit(job_id)
        except Exception as error:
            LOG.error("job %s: the job runner did not take it: %s", job_id, first_line(error))

    # --- finding and claiming --------------------------------------------------------------

    def due(self) -> list[int]:
        now = utcnow()
        with self._database.sessionmaker() as session:
            rows = session.execute(
                sa.select(
                    JobRecord.id, JobRecord.state, JobRecord.claimed_by, JobRecord.claimed_until
                )
                .where(
                    sa.or_(
                        sa.and_(JobRecord.state == JobState.QUEUED, JobRecord.run_after <= now),
                        JobRecord.state == JobState.RUNNING,
                    )
                )
                .order_by(JobRecord.id)
                .limit(1000)
            ).all()
        return [row.id for row in rows if row.state == JobState.QUEUED or _lapsed(row, now)]

    def seconds_to_next(self) -> float | None:
        now = utcnow()
        with self._database.sessionmaker() as session:
            rows = session.execute(
                sa.select(
                    JobRecord.state,
                    JobRecord.run_after,
                    JobRecord.claimed_by,
                    JobRecord.claimed_until,
                ).where(JobRecord.state.in_(UNFINISHED))
            ).all()
        if not rows:
            return None
        waits = [
            (row.run_after if row.state == JobState.QUEUED else row.claimed_until or now) - now
            for row in rows
            if row.state == JobState.QUEUED or not holder_is_gone(row.claimed_by)
        ]
        return max(min(waits, default=dt.timedelta(0)).total_seconds(), 0.0)

    def _claim(self, job_id: int) -> tuple[Job, str] | None:
        """Take job ``job_id`` for one attempt: the job and the claim's token, or None."""
        now = utcnow()
        with self._database.sessionmaker() as session:
            begin_write(session)
            row = session.get(JobRecord, job_id, populate_existing=True)
            if row is None or row.state not in UNFINISHED:
                return None
            if row.state == JobState.QUEUED and row.run_after > now:
                return None
            if row.state == JobState.RUNNING and not _lapsed(row, now):
                return None
            claim = secrets.token_hex(16)
            taken = session.execute(
                sa.update(JobRecord)
                .where(
                    JobRecord.id == job_id,
                    JobRecord.state == row.state,
                    JobRecord.claim == row.claim,
                    JobRecord.attempts == row.attempts,
                )
                .values(
                    state=JobState.RUNNING.value,
                    claim=claim,
                    claimed_by=holder(),
                    claimed_until=now + self._lease,
                    attempts=row.attempts + 1,
                    started_at=row.started_at or now,
                )
                .execution_options(synchronize_session=False)
            )
            if cast(sa.CursorResult[Any], taken).rowcount != 1:  # another process claimed it first
                session.rollback()
                return None
            session.commit()
            job = Job(
                id=row.id,
                type=row.type,
                payload=row.payload,
                attempt=row.attempts + 1,
                key=row.key,
                user_id=row.user_id,
                max_attempts=row.max_attempts,
            )
        return job, claim

    # --- running ---------------------------------------------------------------------------

    def run(self, job_id: int) -> bool:
        claimed = self._claim(job_id)
        if claimed is None:
            return False
        job, claim = claimed
        if job.attempt > job.max_attempts:  # its last attempt's process died
            self._finish(job, claim, JobState.FAILED, error=f"interrupted {job.max_attempts} times")
            return True
        typ = self.types.get(job.type)
        if typ is None:
            error = f"job type {job.type!r} is not enabled here"
            self._finish(job, claim, JobState.FAILED, error=error)
            return True
        LOG.info("job %s (%s): attempt %s of %s", job.id, job.type, job.attempt, job.max_attempts)
        renew = lambda: self._update(  # noqa: E731 -- one line, named for its thread
            job, claim, claimed_until=utcnow() + self._lease
        )
        with renewing(self._lease.total_seconds() / 3, renew, f"job-{job.id}"):
            try:
                result = typ.run(job)
            except BaseException as error:
                self._failed(typ, job, claim, error)
                if not isinstance(error, Exception):
                    raise
                return True
        self._finish(job, claim, JobState.SUCCEEDED, result=dict(result or {}) or None)
        return True

    def _failed(self, typ: JobType, job: Job, claim: str, error: BaseException) -> None:
        message = getattr(error, "message", None) or first_line(error)
        if is_retried(error) and job.attempt < job.max_attempts:
            delay = retry_delay(typ, job.attempt)
            LOG.warning(
                "job %s (%s): attempt %s failed, tried again in %g s: %s",
                job.id, job.type, job.attempt, delay.total_seconds(), message,
            )  # fmt: skip
            self._update(
                job,
                claim,
                state=JobState.QUEUED.value,
                run_after=utcnow() + delay,
                error=message[:1000],
                claim=None,
                claimed_by=None,
                claimed_until=None,
            )
            return
        LOG.error("job %s (%s) failed: %s", job.id, job.type, message)
        self._finish(job, claim, JobState.FAILED, error=message)

    def _finish(
        self,
        job: Job,
        claim: str,
        state: JobState,
        *,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        self._update(
            job,
            claim,
            state=state.value,
            result=result,
            error=None if error is None else error[:1000],
            finished_at=utcnow(),
            live_key=None,
            claim=None,
            claimed_until=None,
        )

    def _update(self, job: Job, held: str, /, **values: Any) -> None:
        """Change the job while this attempt holds claim ``held`` (once taken over,
        nothing)."""
        try:
            with (
                self._database.engine.connect().execution_options(
                    **{WRITE_OPTION: True}
                ) as connection,
                connection.begin(),
            ):
                connection.execute(
                    sa.update(JobRecord)
                    .where(JobRecord.id == job.id, JobRecord.claim == held)
                    .values(**values)
                )
        except sa.exc.SQLAlchemyError as error:  # a lapsed claim is taken over later
            LOG.warning("job %s: cannot record its state: %s", job.id, first_line(error))
