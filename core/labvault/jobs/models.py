"""The ``jobs`` table: one row per job, its state, attempts and outcome, and who holds
it while it runs."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from labvault.db import MYSQL_TABLE_OPTIONS, Base, utcnow


class JobState(enum.StrEnum):
    #: Waiting for ``run_after``, then for a runner.
    QUEUED = "queued"
    #: Claimed by ``claimed_by`` until ``claimed_until`` (renewed while it runs).
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


UNFINISHED = (JobState.QUEUED, JobState.RUNNING)


class JobRecord(Base):
    """A job. ``live_key`` is its idempotency key while it has not finished (None
    after): a job type has one unfinished job per key, and a new one once it ended."""

    __tablename__ = "jobs"
    __table_args__ = (
        sa.UniqueConstraint("type", "live_key"),
        sa.Index(None, "state", "run_after"),
        MYSQL_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(60))
    key: Mapped[str | None] = mapped_column(sa.String(200))
    live_key: Mapped[str | None] = mapped_column(sa.String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    state: Mapped[str] = mapped_column(sa.String(12), default=JobState.QUEUED.value)
    #: Who asked for it: its owner, who may read it besides admins.
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int]
    #: Not claimed before (a retry waits for its backoff).
    run_after: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: A random token per claim: an attempt records its outcome only while it holds it.
    claim: Mapped[str | None] = mapped_column(sa.String(32))
    #: The process running it (``host:pid``).
    claimed_by: Mapped[str | None] = mapped_column(sa.String(200))
    claimed_until: Mapped[dt.datetime | None]
    result: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    error: Mapped[str | None] = mapped_column(sa.String(1000))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
