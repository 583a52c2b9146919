"""Route coverage: every operation in /openapi.json is called by at least one test.

A pytest plugin (loaded by conftest.py). Each test process records the routes its
requests reach; with pytest-xdist every worker hands its set to the controller when it
ends. Once a full run is over (the configured test paths, no -k, -m, --deselect or
--lf, nothing stopped it), the routes no test called are listed and the run fails. A
partial run checks nothing, so one test file can be run alone.
"""

from __future__ import annotations

import re
import tempfile
from typing import Any

import flask
import pytest

#: (method, OpenAPI path) of every request this process's tests made.
CALLED: set[tuple[str, str]] = set()
_OUTPUT_KEY = "labvault_called_routes"
_UNCOVERED = pytest.StashKey[list[str]]()


def openapi_path(rule: str) -> str:
    """Flask's ``/users/<int:user_id>`` as OpenAPI's ``/users/{user_id}``."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def documented_operations(app: flask.Flask) -> set[tuple[str, str]]:
    """(method, path) of every operation in the app's /openapi.json."""
    spec = app.test_client().get("/openapi.json").json
    return {
        (method, path)
        for path, operations in spec["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    }


def uncovered(documented: set[tuple[str, str]], called: set[tuple[str, str]]) -> list[str]:
    """``"METHOD /path"`` of each documented operation that was never called."""
    return sorted(f"{method.upper()} {path}" for method, path in documented - called)


def core_operations() -> set[tuple[str, str]]:
    from labvault.app import create_app
    from labvault.testing import TEST_SECRET_KEY

    with tempfile.TemporaryDirectory() as instance:
        app = create_app(
            {"IDENTIFIER_PREFIX": "test", "SECRET_KEY": TEST_SECRET_KEY, "INSTANCE_PATH": instance}
        )
        try:
            return documented_operations(app)
        finally:
            app.extensions["labvault"].database.dispose()


def is_full_run(config: pytest.Config) -> bool:
    """Whether every test of the configured paths was selected to run."""
    narrowed = (
        config.getoption("keyword", "")
        or config.getoption("markexpr", "")
        or config.getoption("deselect", None)
        or config.getoption("lf", False)
    )
    return config.args_source != pytest.Config.ArgsSource.ARGS and not narrowed


def _record(sender: flask.Flask, **_: Any) -> None:
    rule = flask.request.url_rule
    if rule is not None:
        CALLED.add((flask.request.method.lower(), openapi_path(rule.rule)))


flask.request_started.connect(_record, weak=False)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist: take over the routes a finished worker's tests called."""
    CALLED.update(tuple(route) for route in node.workeroutput.get(_OUTPUT_KEY, ()))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if hasattr(config, "workeroutput"):  # an xdist worker: its controller checks
        config.workeroutput[_OUTPUT_KEY] = sorted(CALLED)
        return
    finished = exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)
    if not finished or session.shouldstop or session.shouldfail or not is_full_run(config):
        return
    missing = uncovered(core_operations(), CALLED)
    if missing:
        config.stash[_UNCOVERED] = missing
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    missing = config.stash.get(_UNCOVERED, [])
    if missing:
        terminalreporter.section("route coverage", red=True)
        terminalreporter.line(f"{len(missing)} documented route(s) no test calls:", red=True)
        for route in missing:
            terminalreporter.line(f"  {route}")
