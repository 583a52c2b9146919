"""The ``backup`` job type: a run of a backup strategy that an admin started through the
API (:func:`labvault.backups.runs.start_strategy` records it)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from labvault.db import first_line
from labvault.plugin import Host, Job, JobType

if TYPE_CHECKING:
    from labvault.backups.strategies import Backups

#: The job type of a run started by the API; its jobs are keyed by strategy.
JOB_TYPE = "backup"
LOG = logging.getLogger("labvault.backups")


class BackupRun(JobType):
    """Payload ``{"strategy": name}``, keyed by the strategy (one unfinished run each). A
    run that fails, or whose process dies, commits nothing; the next attempt starts
    over, taking the strategy's lock from a holder that is gone. Its result is the
    run's report, as ``last_report`` shows it."""

    name = JOB_TYPE
    description = "Run a backup strategy now"
    max_attempts = 3
    retry_delay = 60.0

    def __init__(self, backups: Callable[[], Backups], host: Host) -> None:
        super().__init__(self.name, {}, host)
        self._backups = backups

    def run(self, job: Job) -> dict[str, Any]:
        # what a run needs (the dump, the repository) is imported by the first run
        from labvault.audit.service import SYSTEM
        from labvault.auth.models import User
        from labvault.backups.runs import Acting, run_strategy

        name = job.payload["strategy"]
        backups = self._backups()
        with backups.database.sessionmaker() as session:
            user = None if job.user_id is None else session.get(User, job.user_id)
            who = SYSTEM if user is None else Acting(user.id, user.email)
            try:
                return run_strategy(session, backups, name, actor=who)
            except Exception as error:  # in its state and the audit log; said here too
                LOG.error("backup strategy %s failed: %s", name, first_line(error))
                raise
