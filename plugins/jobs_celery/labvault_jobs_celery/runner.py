"""The ``celery`` job runner: a recorded job is sent to a Celery queue (Redis or
RabbitMQ), and ``labvault worker`` runs it.

The message only names the job; the worker claims it through labvault (``host.jobs.run``)
before it runs it, so a message delivered twice, or a job found again by a sweep, runs
once. Each worker sweeps from time to time: jobs due for a retry, and jobs whose worker
died mid-way (killed, its machine restarted), are sent again. The server's own
processes run no jobs.
"""

from __future__ import annotations

import logging
import socket
import threading
import weakref
from collections.abc import Mapping
from typing import Any

import marshmallow as ma
from celery import Celery
from labvault.plugin import Host, JobRunner, Secret

TASK = "labvault.run_job"
LOG = logging.getLogger("labvault.plugins.jobs_celery")

#: The runner of each app (by the plugin's host), for `labvault worker`.
_runners: weakref.WeakKeyDictionary[Host, CeleryRunner] = weakref.WeakKeyDictionary()


def runner_of(host: Host) -> CeleryRunner | None:
    """The ``celery`` runner of the app ``host`` belongs to; None when JOBS names another."""
    return _runners.get(host)


class CeleryOptions(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    broker_url = Secret(
        required=True,
        metadata={"description": "redis://host:6379/0 or amqp://user:password@host:5672//"},
    )
    queue = ma.fields.String(
        load_default="labvault",
        validate=ma.validate.Regexp(r"^[A-Za-z0-9._-]{1,100}$"),
        metadata={"description": "the queue labvault's jobs go to"},
    )
    key_prefix = ma.fields.String(
        load_default="",
        validate=ma.validate.Length(max=100),
        metadata={"description": "Redis: put before every key (several labvaults, one Redis)"},
    )
    concurrency = ma.fields.Integer(
        load_default=4,
        validate=ma.validate.Range(min=1, max=256),
        metadata={"description": "jobs a `labvault worker` runs at once (threads)"},
    )
    sweep_interval = ma.fields.Float(
        load_default=10.0,
        validate=ma.validate.Range(min=0.1, max=3600),
        metadata={"description": "seconds between a worker's looks for jobs to send again"},
    )
    connect_timeout = ma.fields.Float(
        load_default=5.0,
        validate=ma.validate.Range(min=0.1, max=300),
        metadata={"description": "seconds a request waits for the broker to take a job"},
    )


class CeleryRunner(JobRunner):
    """Sends each job to a Celery queue; ``labvault worker`` runs them."""

    name = "celery"
    description = "Jobs run by `labvault worker` (Celery, over Redis or RabbitMQ)"
    OptionsSchema = CeleryOptions

    def __init__(self, instance_name: str, options: Mapping[str, Any], host: Host) -> None:
        super().__init__(instance_name, options, host)
        self._celery: Celery | None = None
        self._lock = threading.Lock()
        _runners[host] = self

    @property
    def celery(self) -> Celery:
        """The Celery app of these options, made on first use."""
        with self._lock:
            if self._celery is None:
                self._celery = self._make_celery()
            return self._celery

    def _make_celery(self) -> Celery:
        options = self.options
        app = Celery(f"labvault-{self.host.plugin_name}", set_as_current=False)
        transport: dict[str, Any] = {}
        if options["key_prefix"]:
            transport["global_keyprefix"] = options["key_prefix"]
        app.conf.update(
            broker_url=str(options["broker_url"]),
            broker_transport_options=transport,
            broker_connection_timeout=options["connect_timeout"],
            broker_connection_retry_on_startup=True,
            task_default_queue=options["queue"],
            task_ignore_result=True,
            # a message is taken off the queue when its job has run; one a worker holds
            # when it dies is delivered again (its job is claimed once all the same)
            task_acks_late=True,
            task_reject_on_worker_lost=True,
            worker_prefetch_multiplier=1,
            worker_hijack_root_logger=False,
            worker_redirect_stdouts=False,
        )
        jobs = self.host.jobs

        @app.task(name=TASK, ignore_result=True)
        def run_job(job_id: int) -> None:
            jobs.run(job_id)

        return app

    def submit(self, job_id: int) -> None:
        # a broker that cannot take it now raises: the job stays queued, and a worker's
        # sweep sends it later
        self.celery.send_task(TASK, args=[job_id], queue=self.options["queue"], retry=False)

    def sweep(self) -> int:
        """Send every job that is due now (retries, jobs of a worker that died); how many."""
        due = self.host.jobs.due()
        for job_id in due:
            self.submit(job_id)
        return len(due)

    def work(self, *, concurrency: int | None = None, loglevel: str = "INFO") -> None:
        """Run a Celery worker on this process (threads) until it is stopped, sweeping
        every ``sweep_interval`` seconds, the first time at once."""
        stop = threading.Event()

        def sweeping() -> None:
            while True:
                try:
                    swept = self.sweep()
                    if swept:
                        LOG.info("sent %s job(s) that are due", swept)
                except Exception as error:  # the database or the broker is away: later
                    LOG.warning("cannot send the jobs that are due: %s", error)
                if stop.wait(self.options["sweep_interval"]):
                    return

        sweeper = threading.Thread(target=sweeping, name="labvault-jobs-sweep", daemon=True)
        worker = self.celery.Worker(
            hostname=f"labvault@{socket.gethostname()}",
            pool="threads",
            concurrency=concurrency or self.options["concurrency"],
            queues=[self.options["queue"]],
            loglevel=loglevel,
            without_mingle=True,
            without_gossip=True,
            quiet=True,  # no banner: it would print the broker's address
        )
        sweeper.start()
        try:
            worker.start()
        finally:
            stop.set()
