"""Jobs on Celery, over the Redis server of this machine (127.0.0.1:6379): a backup
started through the API runs on `labvault worker`, not in the server; a worker killed
mid-backup is followed by another that finishes it, once."""

from __future__ import annotations

import io
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from labvault.testing import wait_for_text, wait_until

REDIS_DB = 9  # not the default 0: a test's keys also carry a prefix of their own


@pytest.fixture
def broker() -> Iterator[dict[str, Any]]:
    """The runner's options for a queue of this test's own on the local Redis; its keys
    are removed afterwards."""
    url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    prefix = f"labvault-test-{secrets.token_hex(6)}:"
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.fail(f"the Redis server at {url} does not answer: {error}")
    yield {"type": "celery", "broker_url": url, "key_prefix": prefix, "sweep_interval": 0.5}
    for key in client.scan_iter(match=f"{prefix}*"):
        client.delete(key)
    client.close()


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], subprocess.Popen[bytes]]]:
    """Factory: `labvault worker` on these settings (a config.py of them), its output in
    worker-N.log; every worker is killed at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(settings: dict[str, Any]) -> subprocess.Popen[bytes]:
        folder = tmp_path / f"worker-{len(started)}"
        folder.mkdir()
        config = folder / "config.py"
        config.write_text("".join(f"{name} = {value!r}\n" for name, value in settings.items()))
        log = folder / "worker.log"
        script = Path(sys.executable).parent / "labvault"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [str(script), "worker", "--concurrency", "2"],
                cwd=folder,
                env={**os.environ, "LABVAULT_CONFIG": str(config)},
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append(process)
        process.log = log  # type: ignore[attr-defined]
        wait_for_text(log.read_text, "ready", timeout=60)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_a_backup_runs_on_the_worker_and_a_killed_worker_is_followed_by_one_that_finishes_it(
    broker: dict[str, Any],
    start_worker: Callable[[dict[str, Any]], subprocess.Popen[bytes]],
    labvault_settings: dict[str, Any],
    labvault_make_app: Callable[..., Any],
    labvault_make_user: Callable[..., Any],
    tmp_path: Path,
) -> None:
    repository = tmp_path / "repository"
    settings = {
        **labvault_settings,
        "PLUGINS": ["jobs_celery"],
        "JOBS": broker,
        "BACKUP_STRATEGIES": {
            "nightly": {
                "target": {"type": "local", "path": str(repository)},
                "frequency": "1d",
                "retention": 3,
            }
        },
    }
    app = labvault_make_app(**settings)
    client, admin = app.test_client(), labvault_make_user(app, role="admin")
    item = client.post("/items", json={"type": "sample", "name": "raw"}, headers=admin.headers)
    files = 24
    for n in range(files):  # incompressible, so the backup takes a while
        upload = {"file": (io.BytesIO(os.urandom(1 << 20)), f"scan{n}.raw")}
        answer = client.post(
            f"/items/{item.json['refcode']}/files", data=upload, headers=admin.headers
        )
        assert answer.status_code == 201, answer.json

    started = client.post("/backups/nightly", headers=admin.headers)
    assert started.status_code == 202, started.json
    job_url = f"/jobs/{started.json['job']}"

    def job() -> dict[str, Any]:
        answer: dict[str, Any] = client.get(job_url, headers=admin.headers).json
        return answer

    assert job()["state"] == "queued"  # in Redis: the server runs no jobs

    first = start_worker(settings)
    contents = repository / "contents"
    wait_until(
        lambda: contents.is_dir() and any(p.is_file() for p in contents.rglob("*")),
        60,
        interval=0.005,
        message=first.log.read_text,  # type: ignore[attr-defined]
    )
    os.killpg(first.pid, signal.SIGKILL)  # the worker, mid-backup
    first.wait()
    assert not list(repository.glob("snapshots/*/manifest.json")), "it finished too soon"
    assert job()["state"] == "running"  # held by a process that is gone

    second = start_worker(settings)
    done = wait_until(
        lambda: (state := job())["state"] in ("succeeded", "failed") and state,
        120,
        message=second.log.read_text,  # type: ignore[attr-defined]
    )
    assert (done["state"], done["attempts"]) == ("succeeded", 2), done
    strategy = client.get("/backups/nightly", headers=admin.headers).json
    assert strategy["running"] is False and strategy["last_error"] is None
    assert [s["snapshot"] for s in strategy["snapshots"]] == [done["result"]["snapshot"]]
    assert done["result"]["files"] == files
    log = second.log.read_text()  # type: ignore[attr-defined]
    assert "Traceback" not in log
