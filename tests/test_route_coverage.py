"""The route coverage check (tests/route_coverage.py), run on a small suite of its own.

The check itself runs at the end of every full run of this suite, on xdist workers that
hand their routes to the controller (were that broken, every `make test` would fail
naming every route). Here a suite of two tests, each calling one route, runs in a pytest
of its own: the routes they called count, every other route is reported, and a partial
run checks nothing.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.route_coverage import core_operations, uncovered

ROOT = Path(__file__).resolve().parents[1]

CONFTEST = """
    from tests import route_coverage

    def pytest_configure(config):
        config.pluginmanager.register(route_coverage, "labvault-route-coverage")
"""

CALLS_ONE_ROUTE = """
    from labvault.app import create_app
    from labvault.testing import TEST_SECRET_KEY

    def test_calls(tmp_path):
        app = create_app(
            {{"IDENTIFIER_PREFIX": "t", "SECRET_KEY": TEST_SECRET_KEY,
              "INSTANCE_PATH": str(tmp_path)}}
        )
        assert app.test_client().get("{path}").status_code == 200
"""


def run_suite(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", *args],
        cwd=folder,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def suite(tmp_path):
    folder = tmp_path / "suite"
    folder.mkdir()
    (folder / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    for name, path in (("info", "/info"), ("live", "/health/live")):
        source = textwrap.dedent(CALLS_ONE_ROUTE.format(path=path))
        (folder / f"test_{name}.py").write_text(source)
    return folder


def test_a_full_run_fails_listing_the_routes_no_test_called(suite):
    result = run_suite(suite)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    listed = result.stdout.split("documented route(s) no test calls:\n", 1)[1]
    routes = {line.strip() for line in listed.splitlines() if line.startswith("  ")}
    expected = set(uncovered(core_operations(), {("get", "/info"), ("get", "/health/live")}))
    assert routes == expected
    assert "POST /items" in routes


@pytest.mark.parametrize("narrowing", [["-k", "info"], ["test_info.py"]], ids=["-k", "file"])
def test_a_partial_run_checks_nothing(suite, narrowing):
    result = run_suite(suite, *narrowing)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert "route coverage" not in result.stdout


def test_uncovered_lists_documented_operations_never_called():
    documented = {("get", "/items"), ("post", "/items"), ("get", "/info")}

    assert uncovered(documented, {("get", "/items"), ("get", "/other")}) == [
        "GET /info",
        "POST /items",
    ]
