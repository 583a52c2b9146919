"""A deployment's home: ``labvault init`` makes it, LABVAULT_HOME (or LABVAULT_CONFIG)
finds it from any working directory (cron), and relative paths are relative to it."""

from __future__ import annotations

import io
import os
import re
import stat
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path

import pytest
from labvault.builtins.store_local import LocalFileStore
from labvault.settings import load_settings, validate_settings
from labvault.testing import TEST_SECRET_KEY

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(sys.executable).parent / "labvault"


def labvault(*args: str, cwd: Path, env: dict[str, str] | None = None):
    """Run the console script as cron would: only the given LABVAULT_* variables."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LABVAULT_")}
    return subprocess.run(
        [str(SCRIPT), *args],
        cwd=cwd,
        env={**environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A working directory that is not the deployment's, as cron's is."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


def test_init_writes_the_template_a_secret_key_and_a_private_instance_folder(tmp_path):
    home = tmp_path / "srv" / "labvault"

    result = labvault("init", str(home), cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    template = (ROOT / "config-template.py").read_text()
    assert (home / "config.py").read_text() == template
    dotenv = (home / ".env").read_text()
    key = re.search(r"^LABVAULT_SECRET_KEY=(\S+)$", dotenv, re.M)
    assert key and len(key[1]) >= 64
    assert mode_of(home / ".env") == 0o600
    assert mode_of(home / "instance") == 0o700
    assert f"export LABVAULT_HOME={home}" in result.stdout
    for step in ("config check", "db upgrade", "users create", "labvault serve"):
        assert step in result.stdout
    assert [p.name for p in home.iterdir() if p.name.endswith(".tmp")] == []


def test_init_defaults_to_the_working_directory_and_each_key_is_fresh(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    assert labvault("init", cwd=first).returncode == 0
    assert labvault("init", str(second), cwd=tmp_path).returncode == 0
    assert (first / ".env").read_text() != (second / ".env").read_text()


@pytest.mark.parametrize("existing", ["config.py", ".env"])
def test_init_never_overwrites_a_deployment(tmp_path, existing):
    home = tmp_path / "home"
    home.mkdir()
    (home / existing).write_text("KEEP = 1\n")

    result = labvault("init", str(home), cwd=tmp_path)

    assert result.returncode == 1
    assert f"{home / existing} already exists" in result.stderr
    assert "Traceback" not in result.stderr
    assert (home / existing).read_text() == "KEEP = 1\n"
    assert sorted(p.name for p in home.iterdir()) == [existing]  # nothing else written


def test_init_twice_keeps_the_first_secret_key(tmp_path):
    home = tmp_path / "home"
    assert labvault("init", str(home), cwd=tmp_path).returncode == 0
    dotenv = (home / ".env").read_text()

    again = labvault("init", str(home), cwd=tmp_path)

    assert again.returncode == 1
    assert "already exist" in again.stderr
    assert (home / ".env").read_text() == dotenv


def test_init_into_a_path_that_is_a_file_is_one_clear_line(tmp_path):
    (tmp_path / "taken").write_text("")
    result = labvault("init", str(tmp_path / "taken"), cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "taken" in result.stderr


def _initialised_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    assert labvault("init", str(home), cwd=tmp_path).returncode == 0
    backups = tmp_path / "backups"
    backups.mkdir()
    with (home / "config.py").open("a") as config:
        config.write(
            "BACKUP_STRATEGIES = {'nightly': {'target': {'type': 'local', "
            f"'path': {str(backups)!r}}}, 'frequency': '1d', 'retention': 2}}}}\n"
        )
    return home


def test_cron_finds_config_env_and_instance_through_labvault_home(tmp_path, elsewhere):
    home = _initialised_home(tmp_path)
    env = {"LABVAULT_HOME": str(home)}
    (elsewhere / ".env").write_text("LABVAULT_IDENTIFIER_PREFIX=NOT_READ\n")

    assert labvault("db", "upgrade", cwd=elsewhere, env=env).returncode == 0
    result = labvault("backup", "due", cwd=elsewhere, env=env)

    assert result.returncode == 0, result.stderr
    assert "nightly" in result.stdout
    assert (home / "instance" / "labvault.db").is_file()  # INSTANCE_PATH "instance": the home's
    assert list(elsewhere.iterdir()) == [elsewhere / ".env"]  # nothing made in the cwd
    assert any((tmp_path / "backups").iterdir())


def test_labvault_config_names_the_home_too(tmp_path, elsewhere):
    home = _initialised_home(tmp_path)
    env = {"LABVAULT_CONFIG": str(home / "config.py")}

    result = labvault("config", "check", cwd=elsewhere, env=env)

    assert result.returncode == 0, result.stderr
    assert f"config file: {home / 'config.py'}" in result.stdout
    assert "configuration is valid" in result.stdout


def test_a_home_without_config_is_one_clear_line(tmp_path, elsewhere):
    result = labvault("backup", "due", cwd=elsewhere, env={"LABVAULT_HOME": str(tmp_path)})
    assert result.returncode == 1
    assert f"LABVAULT_HOME: {tmp_path} holds no config.py" in result.stderr
    assert "Traceback" not in result.stderr


def test_without_a_home_secret_key_still_comes_from_the_working_directory(tmp_path):
    (tmp_path / "config.py").write_text("IDENTIFIER_PREFIX = 'dev'\n")
    (tmp_path / ".env").write_text(f"LABVAULT_SECRET_KEY={TEST_SECRET_KEY}\n")
    result = labvault("config", "check", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "instance").is_dir()  # `make run`'s folder, as before


def test_relative_paths_are_relative_to_the_config_file_not_the_cwd(
    tmp_path, elsewhere, monkeypatch
):
    home = tmp_path / "home"
    (home / "keys").mkdir(parents=True)
    for name in ("private.pem", "public.pem"):
        (home / "keys" / name).write_text("")
    (home / "config.py").write_text(
        "IDENTIFIER_PREFIX = 'rel'\n"
        f"SECRET_KEY = {TEST_SECRET_KEY!r}\n"
        "INSTANCE_PATH = 'var'\n"
        "FILE_DIRECTORY = 'store/files'\n"
        "LOG_FILE = 'logs/labvault.log'\n"
        "JWT_ALGORITHM = 'ES256'\n"
        "JWT_PRIVATE_KEY_FILE = 'keys/private.pem'\n"
        "JWT_PUBLIC_KEY_FILE = 'keys/public.pem'\n"
        "DATABASE_URL = 'sqlite:///db/lab.db'\n"
    )
    monkeypatch.chdir(elsewhere)

    settings = load_settings(environ={"LABVAULT_HOME": str(home)})

    assert settings["INSTANCE_PATH"] == str(home / "var")
    assert settings["FILE_DIRECTORY"] == str(home / "store" / "files")
    assert settings["LOG_FILE"] == str(home / "logs" / "labvault.log")
    assert settings["JWT_PRIVATE_KEY_FILE"] == str(home / "keys" / "private.pem")
    assert settings["JWT_PUBLIC_KEY_FILE"] == str(home / "keys" / "public.pem")
    assert settings["DATABASE_URL"] == f"sqlite:///{home / 'db' / 'lab.db'}"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:////var/lib/labvault/lab.db",
        "mysql+pymysql://labvault:pw@db.example.org/labvault",
    ],
)
def test_other_database_urls_are_kept_as_they_are(tmp_path, url):
    settings = validate_settings(
        {"IDENTIFIER_PREFIX": "lab", "SECRET_KEY": TEST_SECRET_KEY, "DATABASE_URL": url},
        base=tmp_path,
    )
    assert settings["DATABASE_URL"] == url


def test_the_file_store_and_the_instance_folder_are_private(tmp_path):
    root = tmp_path / "lib" / "labvault" / "files"
    stored = LocalFileStore.at(root).store(io.BytesIO(b"spectrum"))

    path = LocalFileStore.at(root).path_for(stored.sha256)
    for folder in (
        tmp_path / "lib",
        root.parent,
        root,
        root / "tmp",
        path.parent,
        path.parent.parent,
    ):
        assert mode_of(folder) == 0o700, folder

    instance = tmp_path / "instance"
    validate_settings({"IDENTIFIER_PREFIX": "lab", "INSTANCE_PATH": str(instance)}, dev=True)
    assert mode_of(instance) == 0o700
    assert mode_of(instance / "secret_key") == 0o600


def test_the_template_is_shipped_in_the_package_and_is_the_documented_file():
    shipped = resources.files("labvault.cli").joinpath("templates", "init", "config.py.tmpl")
    top = ROOT / "config-template.py"
    assert top.read_text() == shipped.read_text()
    assert top.is_symlink()  # one source of truth: the repository's file is the package's
    assert top.resolve() == (ROOT / "core/labvault/cli/templates/init/config.py.tmpl")
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["labvault"]
    package = ROOT / "core" / "labvault"
    assert any(top.resolve() in set(package.glob(pattern)) for pattern in patterns), (
        "config.py.tmpl is not in the wheel's package data"
    )
