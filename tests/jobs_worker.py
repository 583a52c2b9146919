"""A plugin for the jobs tests (a job type that tallies its runs, a runner that only
records), and a process that runs jobs: ``python -m tests.jobs_worker SETTINGS.json``
builds an app of those settings with this plugin and takes jobs until it is killed."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

from labvault.plugin import JobRunner, JobType, hookimpl

LABVAULT_PLUGIN_API = ">=2.1,<3"


class Tally(JobType):
    """Payload ``{"folder": path, "hang_first": bool}``: marks each attempt's start in
    the folder (``attempt-N-of-<job>``), hangs in a first attempt that should, and
    appends the job's id to ``done`` when it finishes."""

    name = "tally"
    retry_delay = 0.05

    def run(self, job):  # type: ignore[no-untyped-def]
        folder = Path(job.payload["folder"])
        (folder / f"attempt-{job.attempt}-of-{job.id}").touch()
        if job.payload.get("hang_first") and job.attempt == 1:
            threading.Event().wait()  # until the process is killed
        with (folder / "done").open("a") as done:
            done.write(f"{job.id}\n")
        return {"attempt": job.attempt}


class Manual(JobRunner):
    """Records jobs and runs none: another process (or the test) runs them."""

    name = "manual"

    def submit(self, job_id):  # type: ignore[no-untyped-def]
        pass


@hookimpl
def labvault_job_types():  # type: ignore[no-untyped-def]
    return [Tally]


@hookimpl
def labvault_job_runner_types():  # type: ignore[no-untyped-def]
    return [Manual]


def main(settings_path: str) -> None:
    from labvault.app import create_app

    settings = json.loads(Path(settings_path).read_text())
    app = create_app(settings, plugin_modules={"jobs_worker": sys.modules[__name__]})
    app.extensions["labvault"].jobs.runner.start()
    print("taking jobs", flush=True)
    while True:
        time.sleep(60)


if __name__ == "__main__":
    main(sys.argv[1])
