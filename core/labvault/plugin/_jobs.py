"""Jobs: work that outlives a request (a backup started by the API, a sign-in mail).

A *job type* (:class:`JobType`, registered by ``labvault_job_types``) says what one kind
of work does with a job's JSON ``payload``; the core records every job (who asked for
it, its state, attempts, result or error), retries a failed attempt after a growing
delay, and takes a job over from a process that died holding it. A *job runner*
(:class:`JobRunner`, ``labvault_job_runner_types``, configured by ``JOBS``) decides
where jobs run: ``embedded`` (the default) in the server's own processes, a plugin's on
a task queue. Either way a job runs through :meth:`JobQueue.run`, which claims it
first, so two processes never run one job at once.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from labvault.plugin._types import PluginType


@dataclass(frozen=True)
class Job:
    """One attempt at a job, as its type's :meth:`JobType.run` is handed it."""

    id: int
    #: The job type's name.
    type: str
    payload: Mapping[str, Any]
    #: 1 for the first attempt; a job taken over from a process that died counts again.
    attempt: int
    #: The job's idempotency key (None: none was given).
    key: str | None = None
    #: Who asked for it (None: the server or a plugin itself).
    user_id: int | None = None
    #: Attempts there will be at most, this one included.
    max_attempts: int = field(default=1)


class JobType(PluginType):
    """One kind of work, run by :meth:`run` with a job's ``payload``.

    ``run`` may be called again for one job (a later attempt after an error, or after
    the process that ran it died), so it must be safe to repeat: it does the work or
    finds it done. What it returns (JSON) is the job's ``result``. An
    :class:`~labvault.plugin.Unavailable` it raises, or any exception that is not a
    :class:`~labvault.plugin.DomainError` (a refused connection, a full disk), is tried
    again after :attr:`retry_delay` seconds, doubled at each attempt (at most an hour),
    until :attr:`max_attempts`; another ``DomainError`` (the job asks for what cannot
    be: ``Invalid``, ``NotFound``, ``Conflict``) fails the job at once. The job's
    ``error`` is the exception's first line: keep secrets out of messages.

    A payload holds no secret either: the jobs table is readable by admins (``GET
    /jobs/<id>``) and kept in backups. Make a secret where the work is done.
    """

    #: Attempts at most, the first included.
    max_attempts: ClassVar[int] = 5
    #: Seconds before the second attempt; doubled before each further one.
    retry_delay: ClassVar[float] = 30.0

    def run(self, job: Job) -> Mapping[str, Any] | None:
        """Do the work of ``job``; return its result (JSON), or None."""
        raise NotImplementedError


class JobQueue(abc.ABC):
    """The core's record of jobs, as a plugin reaches it: :attr:`Host.jobs`."""

    @abc.abstractmethod
    def enqueue(
        self,
        job_type: str,
        payload: Mapping[str, Any],
        *,
        key: str | None = None,
        user_id: int | None = None,
    ) -> int:
        """Record a job of ``job_type`` (a registered type's name) and have the runner
        start it; its id. With ``key``, a job of that type and key that has not
        finished yet is that job: its id is returned and nothing new is recorded."""

    @abc.abstractmethod
    def run(self, job_id: int) -> bool:
        """Claim job ``job_id`` and run one attempt of it in this thread, recording its
        outcome. False when it is not this caller's to run: finished, not due yet, or
        running in a process that still lives."""

    @abc.abstractmethod
    def due(self) -> list[int]:
        """The jobs to run now: queued and due, or held by a process that is gone or
        whose claim lapsed. Oldest first."""

    @abc.abstractmethod
    def seconds_to_next(self) -> float | None:
        """Seconds until a job that has not finished may be due (0: now); None when
        every job has finished."""


class JobRunner(PluginType):
    """Where jobs run. ``JOBS = {"type": "<name>", **options}`` configures the one
    instance (named ``default``); the core calls :meth:`submit` for each job it records
    and :meth:`start` in each process that should run jobs (every worker of the server).

    A runner runs a job by calling ``self.host.jobs.run(job_id)`` (:meth:`JobQueue.run`),
    which claims it; a job submitted twice, or found by two processes, runs once. Jobs
    left unfinished when a process died are in ``self.host.jobs.due()``: a runner asks
    for them when it starts and from time to time, or they wait for the next start.
    """

    def submit(self, job_id: int) -> None:
        """Have job ``job_id`` (recorded and committed) run soon; return at once."""
        raise NotImplementedError

    def start(self) -> None:
        """Start running jobs in this process, unfinished ones first. Called once per
        process after it forked (a worker of the server); by default nothing."""

    def stop(self) -> None:
        """Stop taking jobs in this process (a job running goes on). By default nothing."""
