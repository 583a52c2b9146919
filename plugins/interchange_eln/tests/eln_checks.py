"""The ELN Consortium's own checks of ``.eln`` files, run as they are on archives a test
wrote.

The checks (``tests/`` of the consortium's repository: ``checks.py`` and its tests) live
in ``../shared/eln`` beside the project (``LABVAULT_ELN_SPEC`` names another folder).
They pin their own libraries (``tests/requirements.txt``: rocrate, roc-validator,
jsonschema, ...), which differ from labvault's, so they run in a venv of their own,
built once per machine and requirements (a lock keeps pytest-xdist's workers from
building it twice). They walk the working folder for ``.eln`` files and log each
check's result in ``tests/logging.json``; the archives are laid out as the consortium's
examples are (``examples/<software>/<name>.eln``).

roc-validator reads the RO-Crate 1.1 JSON-LD context from https://w3id.org. No test may
reach beyond this machine, so the checks' interpreter gets that document from the
``rocrate`` library's own copy, and any other URL fails: a ``sitecustomize`` module on its
path installs a urllib handler that does so. Without the context the validator skips its
checks with a warning; the output is checked for that, so a skipped check fails the test.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
#: The specification, the checks and other ELNs' exports.
SPEC = Path(os.environ.get("LABVAULT_ELN_SPEC", ROOT.parent / "shared" / "eln"))
CHECKS = ("pypi_rocrate", "params_metadata_json", "schema", "validator", "archive_structure")

SITECUSTOMIZE = '''
"""The RO-Crate 1.1 context from the rocrate library's copy; any other URL fails."""
import email.message
import io
import urllib.error
import urllib.request
import urllib.response
from pathlib import Path

import rocrate

CONTEXT_URL = "https://w3id.org/ro/crate/1.1/context"
CONTEXT = Path(rocrate.__file__).parent / "data" / "ro-crate.jsonld"


class OfflineContext(urllib.request.BaseHandler):
    handler_order = 100

    def https_open(self, request):
        if request.full_url.rstrip("/") != CONTEXT_URL:
            raise urllib.error.URLError(f"this machine stays offline: {request.full_url}")
        headers = email.message.Message()
        headers["Content-Type"] = "application/ld+json"
        answer = urllib.response.addinfourl(
            io.BytesIO(CONTEXT.read_bytes()), headers, request.full_url, 200
        )
        answer.msg = "OK"
        return answer

    http_open = https_open


urllib.request.install_opener(urllib.request.build_opener(OfflineContext))
'''


def _checks_python() -> Path:
    """The checks' interpreter, in a venv of their pinned requirements."""
    requirements = SPEC / "tests" / "requirements.txt"
    assert requirements.is_file(), (
        f"the ELN Consortium's checks are not at {SPEC}/tests "
        "(set LABVAULT_ELN_SPEC to the folder holding SPECIFICATION.md, tests/ and examples/)"
    )
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "labvault-tests"
    cache.mkdir(parents=True, exist_ok=True)
    venv = cache / f"eln-checks-{digest}"
    python = venv / "bin" / "python"
    with (cache / f"eln-checks-{digest}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (venv / "ready").exists():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            done = subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", "-r", str(requirements)],
                capture_output=True,
                text=True,
                timeout=900,
            )
            assert done.returncode == 0, (
                f"installing the checks' requirements failed:\n{done.stderr}"
            )
            (venv / "ready").touch()
    return python


def run_consortium_checks(archives: dict[str, bytes], folder: Path) -> dict[str, dict[str, bool]]:
    """Run the consortium's checks on ``archives`` (name -> the .eln's bytes) in
    ``folder``; assert that they pass and ran whole; return each archive's results."""
    python = _checks_python()
    shutil.copytree(SPEC / "tests", folder / "tests")
    examples = folder / "examples" / "labvault"
    examples.mkdir(parents=True)
    for name, data in archives.items():
        (examples / f"{name}.eln").write_bytes(data)
    site = folder / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    done = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(site), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Unexpected error during check" not in output, output
    logged = json.loads((folder / "tests" / "logging.json").read_text())
    results = {Path(path).stem: checks for path, checks in logged.items()}
    assert set(results) == set(archives), results
    for name, checks in results.items():
        assert checks == dict.fromkeys(CHECKS, True), (name, checks)
    return results
