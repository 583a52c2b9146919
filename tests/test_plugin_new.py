"""``labvault plugin new``: a new plugin of each kind is complete, and works as a
distribution: built into a wheel, installed with the core's wheel into a fresh venv, its
own tests pass, ``labvault config check`` is clean with it enabled and a served
labvault has it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
import venv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from labvault.cli import cli
from labvault.cli.plugin import KINDS
from labvault.plugin import API_VERSION
from labvault.testing import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

#: What each kind's plugin is configured with (``{tmp}`` is a folder of the test), and
#: the route of a served labvault that lists its instances (to a signed-in admin).
ENABLED: dict[str, tuple[str, str]] = {
    "auth": (
        'PUBLIC_URL = "http://127.0.0.1:{port}"\n'
        'AUTH_PROVIDERS = {{"campus": {{"type": "{name}", "client_id": "lv",'
        ' "client_secret": "s", "authorize_url": "https://sso.example.org/authorize",'
        ' "token_url": "https://sso.example.org/token",'
        ' "userinfo_url": "https://sso.example.org/userinfo"}}}}\n',
        "/auth/providers",
    ),
    "block": ('BLOCK_TYPES = {{"{name}": {{"max_rows": 10}}}}\n', "/block-types"),
    "item-type": ("", "/item-types"),  # every item type is on
    "file-source": (
        'FILE_SOURCES = {{"instruments": {{"type": "{name}", "path": "{tmp}"}}}}\n',
        "/file-sources",
    ),
    "inventory": (
        'INVENTORY_IMPORTERS = {{"stock": {{"type": "{name}"}}}}\n',
        "/inventory/importers",
    ),
    "backup": (
        'BACKUP_STRATEGIES = {{"nightly": {{"target": {{"type": "{name}",'
        ' "path": "{tmp}/backups"}}, "frequency": "1d", "retention": 2}}}}\n',
        "/backups",
    ),
    # every format is on; /info lists it to anyone
    "interchange": ('INTERCHANGE_FORMATS = {{"{name}": {{"max_items": 10}}}}\n', "/info"),
}


def new(*args: str) -> Any:
    return CliRunner().invoke(cli, ["plugin", "new", *args])


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_is_a_complete_distribution(kind: str, tmp_path: Path) -> None:
    result = new("lab_thing", "--kind", kind, "--directory", str(tmp_path), "--author", "Ada L")

    assert result.exit_code == 0, result.output
    folder = tmp_path / "labvault-lab-thing"
    assert f"to {folder}" in result.output
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert files == {
        ".github/workflows/publish.yml",
        "LICENSE",
        "MANIFEST.in",
        "README.md",
        "pyproject.toml",
        "labvault_lab_thing/__init__.py",
        "labvault_lab_thing/py.typed",
        "tests/test_lab_thing.py",
    }
    pyproject = (folder / "pyproject.toml").read_text()
    assert 'name = "labvault-lab-thing"' in pyproject
    assert '[project.entry-points."labvault.plugins"]\nlab_thing = "labvault_lab_thing"' in (
        pyproject
    )
    assert 'test = ["labvault[testing]"]' in pyproject and "[project.urls]" in pyproject
    major, minor = API_VERSION.split(".")
    module = (folder / "labvault_lab_thing/__init__.py").read_text()
    assert f'LABVAULT_PLUGIN_API = ">={major}.{minor},<{int(major) + 1}"' in module
    assert "@@" not in "".join((folder / name).read_text() for name in files)
    assert "Copyright (c) " in (folder / "LICENSE").read_text()
    assert "Ada L" in (folder / "LICENSE").read_text()
    assert "graft tests" in (folder / "MANIFEST.in").read_text()
    readme = (folder / "README.md").read_text()
    assert 'PLUGINS = ["lab_thing"]' in readme
    # what a deployer sets, or what an item type (which takes no options) holds
    assert ("| field |" if kind == "item-type" else "| option |") in readme
    workflow = (folder / ".github/workflows/publish.yml").read_text()
    assert "id-token: write" in workflow and "pypa/gh-action-pypi-publish" in workflow


def test_the_generated_code_passes_ruff(tmp_path: Path) -> None:
    for kind in KINDS:
        assert new(f"x_{kind.replace('-', '_')}", "--kind", kind, "--directory", str(tmp_path))
    checked = subprocess.run(
        [str(BIN / "ruff"), "check", "--no-cache", "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("name", ["Xrd", "2theta", "xrd-stats", "class", "a" * 41, "", "x y"])
def test_a_name_that_cannot_name_a_plugin_is_refused(name: str, tmp_path: Path) -> None:
    result = new(name, "--kind", "block", "--directory", str(tmp_path))

    assert result.exit_code == 2
    assert "is no plugin name: use 1 to 40 lowercase letters" in result.output
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_an_item_types_name_is_at_most_what_an_item_type_may_be_named(tmp_path: Path) -> None:
    result = new("a" * 21, "--kind", "item-type", "--directory", str(tmp_path))

    assert result.exit_code == 2
    assert "too long for --kind item-type" in result.output and "at most 20" in result.output
    assert list(tmp_path.iterdir()) == []
    assert new("a" * 20, "--kind", "item-type", "--directory", str(tmp_path)).exit_code == 0


def test_an_unknown_kind_is_refused(tmp_path: Path) -> None:
    result = new("xrd", "--kind", "blocks", "--directory", str(tmp_path))

    assert result.exit_code == 2 and "'blocks' is not one of" in result.output


def test_a_folder_that_is_not_empty_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "labvault-xrd").mkdir()
    (tmp_path / "labvault-xrd" / "notes.txt").write_text("mine")

    result = new("xrd", "--kind", "block", "--directory", str(tmp_path))

    assert result.exit_code == 1
    assert f"{tmp_path / 'labvault-xrd'} exists and is not empty" in result.output
    assert [p.name for p in (tmp_path / "labvault-xrd").iterdir()] == ["notes.txt"]
    # an empty folder is used
    (tmp_path / "labvault-xrd" / "notes.txt").unlink()
    assert new("xrd", "--kind", "block", "--directory", str(tmp_path)).exit_code == 0


# --- the must-show line: generated -> wheel -> a fresh venv -> its tests -> served ----------


def run(*args: str | Path, cwd: Path | None = None, **kwargs: Any) -> str:
    done = subprocess.run(
        [str(arg) for arg in args], cwd=cwd, capture_output=True, text=True, **kwargs
    )
    assert done.returncode == 0, f"{args}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def build_wheel(python: Path, source: Path, out: Path) -> Path:
    """``python -m build --wheel`` of ``source``, with the build backend of the venv of
    ``python`` (no build environment made each time)."""
    run(python, "-m", "build", "--wheel", "--no-isolation", "--outdir", out, source)
    [wheel] = out.glob("*.whl")
    return wheel


@pytest.fixture(scope="session")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv (no site packages of this one) with the core's wheel and its
    ``testing`` extra, installed from PyPI through pip's cache; built once per session
    (per xdist worker). Each kind's test installs its own plugin's wheel into it."""
    work = tmp_path_factory.mktemp("core")
    source = work / "source"  # a copy: two workers build at once, and build/ is shared
    source.mkdir()
    shutil.copytree(ROOT / "core", source / "core", ignore=shutil.ignore_patterns("*.egg-info"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source)
    env = work / "venv"
    venv.create(env, with_pip=True)
    pip = (env / "bin/python", "-m", "pip", "install", "--quiet", "--no-compile")
    run(*pip, "build", "setuptools>=77")  # what `python -m build` would fetch each time
    wheel = build_wheel(env / "bin/python", source, work / "dist")
    run(*pip, f"labvault[testing] @ {wheel.as_uri()}")
    return env


@pytest.fixture
def served() -> Iterator[list[subprocess.Popen[bytes]]]:
    servers: list[subprocess.Popen[bytes]] = []
    yield servers
    for server in servers:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            # gunicorn waits its graceful timeout (30 s) for a worker still starting;
            # this test is about the plugin, not shutdown (tests/test_serve.py is)
            server.kill()
            server.wait(timeout=30)


@pytest.mark.parametrize("kind", KINDS)
def test_a_new_plugin_builds_installs_passes_its_tests_and_is_served(
    kind: str, fresh_venv: Path, tmp_path: Path, served: list[subprocess.Popen[bytes]]
) -> None:
    name = f"new_{kind.replace('-', '_')}"
    # by the installed core: the templates ship in its wheel
    run(fresh_venv / "bin/labvault", "plugin", "new", name, "--kind", kind, cwd=tmp_path)
    folder = tmp_path / f"labvault-{name.replace('_', '-')}"
    assert (folder / ".github/workflows/publish.yml").is_file()
    python = fresh_venv / "bin/python"

    wheel = build_wheel(python, folder, tmp_path / "dist")
    run(python, "-m", "pip", "install", "--quiet", "--no-compile", f"{wheel}[test]")
    # -P: the installed wheel is tested, not the package beside the tests
    where = run(python, "-P", "-c", f"import labvault_{name}; print(labvault_{name}.__file__)",
                cwd=folder)  # fmt: skip
    assert where.startswith(str(fresh_venv))
    tests = run(python, "-P", "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=folder)
    assert " passed" in tests and "skipped" not in tests and "failed" not in tests

    port = free_port()
    (tmp_path / "data").mkdir()
    setting, route = ENABLED[kind]
    (tmp_path / "config.py").write_text(
        f"PLUGINS = [{name!r}]\n"
        'IDENTIFIER_PREFIX = "test"\n'
        f'SECRET_KEY = "{"k" * 40}"\n'
        f'DATABASE_URL = "sqlite:///{tmp_path}/lab.sqlite"\n'
        f'INSTANCE_PATH = "{tmp_path}/instance"\n'
        + setting.format(name=name, tmp=tmp_path / "data", port=port)
    )
    env = {**os.environ, "LABVAULT_CONFIG": str(tmp_path / "config.py")}
    env.pop("LABVAULT_DEV", None)
    labvault = fresh_venv / "bin/labvault"
    run(labvault, "config", "check", env=env, cwd=tmp_path)
    run(labvault, "db", "upgrade", env=env, cwd=tmp_path)
    # an admin's token, as a deployer makes one: the listing routes need a signed-in user
    run(labvault, "users", "create", "admin@example.org", "--role", "admin", env=env, cwd=tmp_path)
    token = run(labvault, "tokens", "issue", "--user", "admin@example.org", env=env, cwd=tmp_path)
    bearer = {"Authorization": f"Bearer {token.strip().splitlines()[-1]}"}
    served.append(
        subprocess.Popen(
            [labvault, "serve", "--bind", f"127.0.0.1:{port}"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    wait_for_port(port, timeout=60)
    listing = urllib.request.Request(f"http://127.0.0.1:{port}{route}", headers=bearer)
    with urllib.request.urlopen(listing, timeout=30) as answer:
        body = json.load(answer)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/info", timeout=30) as answer:
        info = json.load(answer)
    assert name in json.dumps(info["plugins"])
    listed = {"auth": "campus", "block": name, "item-type": name, "file-source": "instruments"}
    listed |= {"inventory": "stock", "backup": "nightly", "interchange": name}
    assert f'"{listed[kind]}"' in json.dumps(body), body  # the instance the config names
    if kind == "interchange":  # /info names every plugin: the format must be among its formats
        assert name in [entry["name"] for entry in body["export_formats"]], body
