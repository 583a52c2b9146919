"""The ``embedded`` job runner (the default ``JOBS``): jobs run on threads of the
server's own processes.

Each process that serves (every worker of `labvault serve`) starts a dispatcher thread
after it forked: it runs the jobs that are due, those a process left unfinished when it
died first, and looks again every ``poll_interval`` seconds, or at once when a job is
submitted here. A process that only records a job (a test's app, a CLI command)
dispatches it the same way, until no job is left unfinished. Jobs are claimed before
they run, so the workers of one server, or of several, share them without running one
twice.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import marshmallow as ma

from labvault.plugin import Host, JobRunner, hookimpl

LOG = logging.getLogger("labvault.jobs")


class EmbeddedOptions(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    threads = ma.fields.Integer(
        load_default=2,
        validate=ma.validate.Range(min=1, max=64),
        metadata={"description": "jobs that run at once in each process"},
    )
    poll_interval = ma.fields.Float(
        load_default=10.0,
        validate=ma.validate.Range(min=0.1, max=3600),
        metadata={"description": "seconds between two looks for jobs that are due"},
    )


class EmbeddedRunner(JobRunner):
    """Runs jobs on a pool of ``threads`` threads of this process."""

    name = "embedded"
    description = "Jobs run on threads of the server's processes"
    OptionsSchema = EmbeddedOptions

    def __init__(self, instance_name: str, options: Mapping[str, Any], host: Host) -> None:
        super().__init__(instance_name, options, host)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._dispatcher: threading.Thread | None = None
        self._pid = 0
        self._serving = False
        self._in_flight: set[int] = set()
        self._pool: ThreadPoolExecutor | None = None

    def submit(self, job_id: int) -> None:
        self._ensure_dispatching()

    def start(self) -> None:
        self._serving = True
        self._ensure_dispatching()

    def stop(self) -> None:
        self._serving = False
        self._wake.set()

    def _ensure_dispatching(self) -> None:
        """Wake the dispatcher, started first if this process has none."""
        with self._lock:
            self._wake.set()  # under the lock: a dispatcher about to end sees it
            if self._pid != os.getpid():  # threads do not survive a fork: start anew
                self._pid, self._dispatcher, self._in_flight = os.getpid(), None, set()
                self._pool = None
            if self._dispatcher is None:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(
                        self.options["threads"], thread_name_prefix="labvault-job"
                    )
                self._dispatcher = threading.Thread(
                    target=self._dispatch, name="labvault-jobs", daemon=True
                )
                self._dispatcher.start()

    def _dispatch(self) -> None:
        jobs = self.host.jobs
        while True:
            self._wake.clear()
            wait = self.options["poll_interval"]
            try:
                for job_id in jobs.due():
                    with self._lock:
                        if job_id in self._in_flight:
                            continue
                        self._in_flight.add(job_id)
                    assert self._pool is not None
                    self._pool.submit(self._run, job_id)
                left = jobs.seconds_to_next()
            except Exception as error:  # the database is away: looked at again later
                LOG.warning("jobs: cannot look for jobs that are due: %s", error)
                left = None
            with self._lock:
                idle = left is None and not self._in_flight and not self._wake.is_set()
                if idle and not self._serving:
                    self._dispatcher = None
                    return
            if left is not None:
                wait = min(wait, max(left, 0.05))
            self._wake.wait(wait)

    def _run(self, job_id: int) -> None:
        try:
            self.host.jobs.run(job_id)
        except Exception:  # a job's own errors are recorded; this is the runner's
            LOG.exception("job %s: the runner failed", job_id)
        finally:
            with self._lock:
                self._in_flight.discard(job_id)
            self._wake.set()


@hookimpl
def labvault_job_runner_types() -> list[type[JobRunner]]:
    return [EmbeddedRunner]
