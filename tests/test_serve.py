"""`labvault serve`'s gunicorn settings as a deployer gives them: --timeout, --pid-file,
gunicorn's own GUNICORN_CMD_ARGS (which beats serve's defaults, and which the options
given beat), the settings it may not change, and LOG_FILE reopened after logrotate moved
it. Each server is a real `labvault serve` process."""

from __future__ import annotations

import os
import signal
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from labvault.server import RESERVED, gunicorn_settings
from labvault.testing import wait_until

from tests.test_cli import GUNICORN_GRACEFUL_TIMEOUT, make_site

ENV = "GUNICORN_CMD_ARGS"


@pytest.fixture
def labvault_database_url(tmp_path: Path) -> str:
    """SQLite alone: what is tested here is gunicorn's, the same on every database."""
    return f"sqlite:///{tmp_path / 'labvault.db'}"


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (gunicorn's workers of a master)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def refused_token(base_url: str) -> int:
    """Send a request whose bearer token is refused (the app logs it); its status."""
    request = urllib.request.Request(
        base_url + "/users/me", headers={"Authorization": "Bearer not-a-token"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        with error:
            return error.code


def test_pid_file_holds_the_master_pid_and_is_removed_when_it_stops(labvault_serve, tmp_path):
    pid_file = tmp_path / "run" / "labvault.pid"
    pid_file.parent.mkdir()
    served = labvault_serve(workers=1, serve_options=["--pid-file", str(pid_file)])

    assert pid_file.read_text() == f"{served.process.pid}\n"
    os.kill(served.process.pid, signal.SIGTERM)
    assert served.process.wait(timeout=GUNICORN_GRACEFUL_TIMEOUT + 15) == 0
    assert not pid_file.exists()


def test_gunicorn_cmd_args_beat_the_defaults_and_given_options_beat_them(labvault_serve):
    served = labvault_serve(
        workers=None,  # labvault serve's default is 2
        env={ENV: "--workers=1 --timeout 50 --log-level debug --max-requests 1000"},
        serve_options=["--timeout", "7"],
    )

    log = served.log()
    assert "GUNICORN_CMD_ARGS sets loglevel=debug max_requests=1000 workers=1\n" in log
    assert "GUNICORN_CMD_ARGS: the options given to labvault serve win for timeout\n" in log
    # gunicorn's own account of its configuration (at log level debug)
    config = {
        line.partition(":")[0].strip(): line.partition(":")[2].strip() for line in log.splitlines()
    }
    assert (config["workers"], config["timeout"], config["max_requests"]) == ("1", "7", "1000")
    # the slow-client worker is kept
    assert "Using worker: Worker" in log and config["threads"] == "4"
    wait_until(lambda: len(children(served.process.pid)) >= 1, 10)
    assert len(children(served.process.pid)) == 1


def test_without_gunicorn_cmd_args_serve_keeps_its_defaults(labvault_serve):
    served = labvault_serve(workers=None, serve_options=["--timeout", "0"])

    wait_until(lambda: len(children(served.process.pid)) == 2, 10)
    assert "GUNICORN_CMD_ARGS" not in served.log()


@pytest.mark.parametrize(
    ("cmd_args", "message"),
    [
        ("-k sync", "--worker-class cannot be set here: labvault serve runs its own worker"),
        ("--worker-class=gevent", "--worker-class cannot be set here"),
        ("--forwarded-allow-ips *", "--forwarded-allow-ips cannot be set here: labvault decides"),
        ("--logger-class x.Y", "--logger-class cannot be set here"),
        ("-c gunicorn.conf.py", "--config cannot be set here: labvault serve reads no gunicorn"),
        ("--workers many", "argument -w/--workers: invalid int value: 'many'"),
        ("--workers 0", "--workers must be at least 1"),
        ("--no-such-option", "unrecognized arguments: --no-such-option"),
        ("myapp:app", "names an app (myapp:app): labvault serve serves labvault"),
        ("--bind '127.0.0.1", "cannot be split into arguments: No closing quotation"),
    ],
)
def test_gunicorn_cmd_args_that_labvault_keeps_or_gunicorn_refuses_stop_serve(
    tmp_path, cmd_args, message
):
    site = make_site(tmp_path / "site")

    error = site.fail_one_line("serve", env={ENV: cmd_args})
    assert error.startswith("error: GUNICORN_CMD_ARGS: ") and message in error, error


def test_every_reserved_setting_is_refused_with_its_reason():
    from gunicorn.config import Config

    settings = Config().settings
    for name, reason in RESERVED.items():
        flag = settings[name].cli[-1]
        value = "" if settings[name].action in ("store_true", "store_const") else " x"
        with pytest.raises(Exception, match="cannot be set here") as refused:
            gunicorn_settings({}, {}, f"{flag}{value}")
        assert reason in str(refused.value)
    # the ones gunicorn takes are taken as written; the options given win
    merged = gunicorn_settings({"workers": 2}, {"timeout": 7}, "--timeout 9 --keep-alive 5")
    assert merged.values == {"workers": 2, "keepalive": 5, "timeout": 7}
    assert merged.overridden == ["timeout"]


def test_a_pid_file_of_a_running_server_or_in_no_folder_is_refused(tmp_path):
    site = make_site(tmp_path / "site")
    running = tmp_path / "taken.pid"
    running.write_text(f"{os.getpid()}\n")

    error = site.fail_one_line("serve", "--pid-file", str(running))
    assert error == (
        f"error: --pid-file {running}: process {os.getpid()} is running already (another "
        "labvault serve?): stop it, or remove the file if that process is not labvault"
    )
    nowhere = tmp_path / "missing" / "labvault.pid"
    error = site.fail("serve", "--pid-file", str(nowhere))
    assert f"Invalid value for --pid-file: the folder {nowhere.parent} does not exist" in error
    assert "Invalid value for '--timeout': -1 is not in the range x>=0." in site.fail(
        "serve", "--timeout", "-1"
    )


def test_log_file_moved_by_logrotate_is_opened_again_by_the_server(labvault_serve, tmp_path):
    log_file = tmp_path / "labvault.log"
    served = labvault_serve(workers=2, LOG_FILE=str(log_file))

    assert refused_token(served.base_url) == 401
    wait_until(lambda: "token refused" in log_file.read_text(), 10)
    rotated = log_file.rename(tmp_path / "labvault.log.1")
    # each worker notices the move on its next line: send a request to both, a few times
    for _ in range(6):
        assert refused_token(served.base_url) == 401
    wait_until(lambda: log_file.exists() and "token refused" in log_file.read_text(), 10)
    assert rotated.read_text().count("token refused") == 1
    assert "token refused" in log_file.read_text()
