"""What every test of this repository (the core's and each plugin's) is checked for:
no log line carries a secret.

Each test's log records (those labvault's loggers pass) and the log files it left in
its temporary folder (servers started by the test write there) are scanned for access
tokens (JWTs), API keys, refresh tokens, the test SECRET_KEY, and values of ``code``,
``state``, ``token``, ``key``, ``secret``, ``password``... in query strings or
``name=value`` text that are not ``[redacted]``. A test whose logs hold one fails; a
test of a secret shown on purpose (the first admin key `serve --dev` prints) names the
text it expects with ``@pytest.mark.shows_a_secret("...")``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from labvault.testing import TEST_SECRET_KEY

SECRETS = re.compile(
    "|".join(
        (
            r"eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{8,}",  # a JWT
            r"\blv[kr]_[\w-]{16,}",  # an API key, a refresh token
            re.escape(TEST_SECRET_KEY),
            # a secret handed over in a URL or as name=value, unless redacted
            r"\b(?:code|state|token|access_token|refresh_token|id_token|key|api_key|secret|"
            r"client_secret|password|code_verifier|nonce|ticket)=(?!\[redacted\])"
            r"[^\s&\"'\]\[<>]{6,}",
        )
    )
)


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a record that cannot format is not this check's
            text = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            text += f" | {record.exc_info[1]!r}"
        self.lines.append(f"{record.name}: {text}")


def leaked_secrets(lines: list[str]) -> list[str]:
    return [line for line in lines if SECRETS.search(line)]


@pytest.fixture(autouse=True)
def no_secret_in_the_logs(request: pytest.FixtureRequest) -> Iterator[None]:
    folder: Path | None = None
    if "tmp_path" in request.fixturenames:  # where the test's servers write their logs
        folder = request.getfixturevalue("tmp_path")
    # labvault's loggers (the app's, the core's modules', each plugin's) as a deployer's
    # log gets them; not those of the test's own peers (stand-in providers, sshd)
    logger = logging.getLogger("labvault")
    recorder = _Recorder()
    logger.addHandler(recorder)
    try:
        yield
    finally:
        logger.removeHandler(recorder)
    lines = recorder.lines
    if folder is not None:
        for log in folder.rglob("*.log"):
            lines += [
                f"{log.name}: {line}" for line in log.read_text(errors="replace").splitlines()
            ]
    allowed = request.node.get_closest_marker("shows_a_secret")
    leaked = [line for line in leaked_secrets(lines) if not (allowed and allowed.args[0] in line)]
    if leaked:
        pytest.fail("a log line carries a secret:\n" + "\n".join(leaked[:10]), pytrace=False)
