"""Jobs: one process claims each, a job whose process died is taken up again and
finished once, failed attempts wait longer each time."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from labvault.jobs.service import job_document, retry_delay
from labvault.testing import wait_until

from tests import jobs_worker

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def recording_app(labvault_make_app):  # type: ignore[no-untyped-def]
    """An app that records jobs and runs none itself."""
    return labvault_make_app(plugins={"jobs_worker": jobs_worker}, JOBS={"type": "manual"})


def job(app: Any, job_id: int) -> dict[str, Any]:
    state = app.extensions["labvault"]
    with state.database.sessionmaker() as session:
        return job_document(session, job_id, user_id=0, admin=True)


def test_of_processes_running_one_job_at_once_one_runs_it(recording_app, tmp_path):
    jobs = recording_app.extensions["labvault"].jobs
    job_id = jobs.enqueue("tally", {"folder": str(tmp_path)})
    start = threading.Barrier(6)
    ran: list[bool] = []

    def run() -> None:
        start.wait()
        ran.append(jobs.run(job_id))

    threads = [threading.Thread(target=run) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(ran) == [False] * 5 + [True]
    assert (tmp_path / "done").read_text() == f"{job_id}\n"
    assert job(recording_app, job_id)["state"] == "succeeded"
    assert jobs.run(job_id) is False  # a finished job is never run again


def worker(settings: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.jobs_worker", str(settings)],
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    wait_until(lambda: "taking jobs" in log.read_text() or process.poll() is not None, 60)
    assert process.poll() is None, log.read_text()
    return process


def test_a_job_whose_process_is_killed_is_taken_up_again_and_finished_once(
    recording_app, labvault_settings, tmp_path
):
    jobs = recording_app.extensions["labvault"].jobs
    folder = tmp_path / "work"
    folder.mkdir()
    hanging = jobs.enqueue("tally", {"folder": str(folder), "hang_first": True})
    settings = tmp_path / "worker.json"
    embedded = {"type": "embedded", "threads": 4, "poll_interval": 0.2}
    worker_settings = {**labvault_settings, "PLUGINS": ["jobs_worker"], "JOBS": embedded}
    settings.write_text(json.dumps(worker_settings, default=str))
    log = tmp_path / "workers.log"

    first = worker(settings, log)
    try:
        wait_until((folder / f"attempt-1-of-{hanging}").exists, 60, message=log.read_text)
        assert job(recording_app, hanging)["state"] == "running"
    finally:
        first.kill()
        first.wait()
    assert not (folder / "done").exists()

    # two new workers share the dead one's job and ten more, each run once
    others = [jobs.enqueue("tally", {"folder": str(folder)}) for _ in range(10)]
    workers = [worker(settings, log), worker(settings, log)]
    try:
        wait_until(
            lambda: all(job(recording_app, n)["state"] == "succeeded" for n in [hanging, *others]),
            60,
            message=log.read_text,
        )
    finally:
        for process in workers:
            process.kill()
            process.wait()
    taken_up = job(recording_app, hanging)
    assert (taken_up["attempts"], taken_up["result"]) == (2, {"attempt": 2})
    assert sorted(int(line) for line in (folder / "done").read_text().split()) == sorted(
        [hanging, *others]
    )
    assert all(job(recording_app, n)["attempts"] == 1 for n in others)
    assert "Traceback" not in log.read_text()


def test_failed_attempts_wait_longer_each_time_up_to_an_hour():
    tally = jobs_worker.Tally.__new__(jobs_worker.Tally)
    delays = [retry_delay(tally, attempt).total_seconds() for attempt in (1, 2, 3)]
    assert delays == [0.05, 0.1, 0.2]
    assert retry_delay(tally, 40).total_seconds() == 3600
