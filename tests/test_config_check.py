"""``labvault config check`` reports every problem in one pass (settings, plugins, their
options, the machine), warnings apart; settings may come from ``{"env": ...}``, and
``LABVAULT_X=null`` unsets one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from labvault.app import create_app
from labvault.errors import ConfigError
from labvault.settings import load_settings, validate_settings
from labvault.testing import TEST_SECRET_KEY

SCRIPT = Path(sys.executable).parent / "labvault"


def config_check(config: Path, env: dict[str, str] | None = None):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LABVAULT_")}
    environ |= {"LABVAULT_CONFIG": str(config), **(env or {})}
    result = subprocess.run(
        [str(SCRIPT), "config", "check"],
        cwd=config.parent,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def write_config(path: Path, **settings: object) -> Path:
    path.write_text("".join(f"{name} = {value!r}\n" for name, value in settings.items()))
    return path


def private_folder(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True)
    path.chmod(0o700)
    return path


def test_every_kind_of_problem_is_reported_in_one_run(tmp_path):
    instance = private_folder(tmp_path / "instance")
    instance.chmod(0o755)
    (tmp_path / ".env").write_text(f"LABVAULT_SECRET_KEY={TEST_SECRET_KEY}\n")
    (tmp_path / ".env").chmod(0o644)
    config = write_config(
        tmp_path / "config.py",
        IDENTIFIER_PREFIX="BAD",
        SESSION_LIFETIME=0,
        DATABASE_URL={"env": "LAB_DATABASE_URL"},
        INSTANCE_PATH="instance",
        FILE_DIRECTORY=str(tmp_path / "not" / "there" / "files"),
        PLUGINS=["no_such_plugin"],
        BLOCK_TYPES={"tabular": {"max_plot_pointz": 10}},
        BACKUP_STRATEGIES={
            "nightly": {
                "target": {"type": "local", "path": str(tmp_path / "unmounted")},
                "frequency": "1d",
                "retention": 7,
                "encryption_key_env": "LAB_BACKUP_KEY",
            },
            "weekly": {"target": {"type": "nowhere"}, "frequency": "7d", "retention": 0},
        },
    )

    result = config_check(config)

    assert result.returncode == 1
    report = result.stderr
    expected = [
        "IDENTIFIER_PREFIX: must be 1 to 10 lowercase ASCII letters",
        "SESSION_LIFETIME: Must be greater than or equal to 1.",
        "DATABASE_URL: the environment variable LAB_DATABASE_URL is not set",
        "BACKUP_STRATEGIES.weekly.retention: Must be greater than or equal to 1",
        "PLUGINS: plugin 'no_such_plugin' is not installed",
        "BLOCK_TYPES.tabular.max_plot_pointz: unknown option",
        "BACKUP_STRATEGIES.nightly.encryption_key_env: the environment variable "
        "LAB_BACKUP_KEY is not set",
        f"BACKUP_STRATEGIES.nightly.target.path: folder {tmp_path / 'unmounted'} does not exist",
        f"FILE_DIRECTORY: {tmp_path / 'not' / 'there' / 'files'} cannot be made: folder "
        f"{tmp_path / 'not' / 'there'} does not exist",
        f"warning: INSTANCE_PATH: folder {instance} has mode 0755",
        f"warning: .env: {tmp_path / '.env'} has mode 0644",
    ]
    missing = [line for line in expected if line not in report]
    assert missing == [], report
    assert "labvault configuration has 9 problems:" in report
    assert "configuration is valid" not in result.stdout


def test_warnings_alone_leave_the_exit_code_0(tmp_path):
    instance = private_folder(tmp_path / "instance")
    files = private_folder(tmp_path / "files")
    files.chmod(0o775)
    key = tmp_path / "jwt-private.pem"
    key.write_text("")
    key.chmod(0o644)
    (tmp_path / "jwt-public.pem").write_text("")
    config = write_config(
        tmp_path / "config.py",
        IDENTIFIER_PREFIX="lab",
        SECRET_KEY=TEST_SECRET_KEY,
        INSTANCE_PATH=str(instance),
        FILE_DIRECTORY="files",
    )

    result = config_check(config, {"LABVAULT_JWT_PRIVATE_KEY_FILE": str(key)})

    assert result.returncode == 0, result.stderr
    assert f"warning: FILE_DIRECTORY: folder {files} has mode 0775" in result.stderr
    assert f"warning: JWT_PRIVATE_KEY_FILE: {key} has mode 0644" in result.stderr
    assert "configuration is valid (with warnings)" in result.stdout
    # the server starts all the same: warnings are config check's alone
    settings = load_settings(environ={"LABVAULT_CONFIG": str(config)})
    create_app(settings).extensions["labvault"].database.dispose()


def test_the_folder_checked_is_the_local_file_stores(tmp_path):
    instance = private_folder(tmp_path / "instance")
    open_files = private_folder(tmp_path / "files")
    open_files.chmod(0o777)
    elsewhere = private_folder(tmp_path / "elsewhere")
    elsewhere.chmod(0o775)
    settings = {"IDENTIFIER_PREFIX": "lab", "SECRET_KEY": TEST_SECRET_KEY}
    settings |= {"INSTANCE_PATH": str(instance), "FILE_DIRECTORY": str(open_files)}

    moved = config_check(
        write_config(
            tmp_path / "moved.py", **settings, FILE_STORE={"type": "local", "path": str(elsewhere)}
        )
    )
    other = config_check(
        write_config(tmp_path / "other.py", **settings, FILE_STORE={"type": "tape"})
    )

    assert f"warning: FILE_STORE.path: folder {elsewhere} has mode 0775" in moved.stderr
    assert "FILE_DIRECTORY" not in moved.stderr
    # a store of another type keeps no folder here: only its type is reported
    assert "FILE_DIRECTORY" not in other.stderr
    assert "FILE_STORE.type: unknown file store type 'tape'" in other.stderr


def test_a_private_deployment_has_no_warning(tmp_path):
    instance = private_folder(tmp_path / "instance")
    backups = private_folder(tmp_path / "backups")
    config = write_config(
        tmp_path / "config.py",
        IDENTIFIER_PREFIX="lab",
        SECRET_KEY=TEST_SECRET_KEY,
        INSTANCE_PATH=str(instance),
        BACKUP_STRATEGIES={
            "nightly": {
                "target": {"type": "local", "path": str(backups)},
                "frequency": "1d",
                "retention": 7,
                "encryption_key_env": "LAB_BACKUP_KEY",
            }
        },
    )

    result = config_check(config, {"LAB_BACKUP_KEY": "k" * 40})

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "configuration is valid\n" in result.stdout


def base(tmp_path: Path, **extra: object) -> dict[str, object]:
    return {
        "IDENTIFIER_PREFIX": "lab",
        "SECRET_KEY": TEST_SECRET_KEY,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        **extra,
    }


def test_any_setting_may_come_from_an_environment_variable(tmp_path):
    raw = base(
        tmp_path,
        DATABASE_URL={"env": "LAB_DB"},
        SECRET_KEY={"env": "LAB_SECRET"},
        SESSION_LIFETIME={"env": "LAB_HOURS"},
        CORS_ORIGINS={"env": "LAB_ORIGINS"},
    )
    environ = {
        "LAB_DB": "postgresql+psycopg://lab@db.example.org/lab",
        "LAB_SECRET": "s" * 40,
        "LAB_HOURS": "48",  # decoded as LABVAULT_* values are
        "LAB_ORIGINS": '["https://a.example.org"]',
    }

    settings = validate_settings(raw, environ=environ)

    assert settings["DATABASE_URL"] == "postgresql+psycopg://lab@db.example.org/lab"
    assert settings["SECRET_KEY"] == "s" * 40
    assert settings["SESSION_LIFETIME"] == 48
    assert settings["CORS_ORIGINS"] == ["https://a.example.org"]


@pytest.mark.parametrize("value", [None, ""])
def test_an_unset_variable_is_a_problem_naming_setting_and_variable(tmp_path, value):
    environ = {} if value is None else {"LAB_DB": value}
    with pytest.raises(ConfigError) as caught:
        validate_settings(base(tmp_path, DATABASE_URL={"env": "LAB_DB"}), environ=environ)
    assert caught.value.problems == ["DATABASE_URL: the environment variable LAB_DB is not set"]


def test_an_unset_required_setting_is_one_problem_not_two(tmp_path):
    raw = base(tmp_path, IDENTIFIER_PREFIX={"env": "LAB_PREFIX"}, SECRET_KEY={"env": "LAB_KEY"})
    with pytest.raises(ConfigError) as caught:
        validate_settings(raw, environ={})
    assert caught.value.problems == [
        "IDENTIFIER_PREFIX: the environment variable LAB_PREFIX is not set",
        "SECRET_KEY: the environment variable LAB_KEY is not set",
    ]


def test_null_from_the_environment_unsets_a_nullable_setting(tmp_path):
    config = write_config(
        tmp_path / "config.py",
        **base(tmp_path, PUBLIC_URL="https://lab.example.org", LOG_FILE="lab.log"),
    )
    environ = {
        "LABVAULT_CONFIG": str(config),
        "LABVAULT_PUBLIC_URL": "null",
        "LABVAULT_LOG_FILE": "null",
        "LABVAULT_JWT_ISSUER": "null",  # not nullable: the text "null"
    }

    settings = load_settings(environ=environ)

    assert settings["PUBLIC_URL"] is None
    assert settings["LOG_FILE"] is None
    assert settings["JWT_ISSUER"] == "null"


def test_labvault_plugins_reads_plugins_from_an_environment_variable(tmp_path):
    config = write_config(tmp_path / "config.py", **base(tmp_path, PLUGINS={"env": "LAB_PLUGINS"}))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LABVAULT_")}
    environ |= {"LABVAULT_CONFIG": str(config), "LAB_PLUGINS": '["fs_ssh"]'}

    result = subprocess.run(
        [str(SCRIPT), "plugins"], env=environ, capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stderr
    enabled = {row.split()[0]: row.split()[-1] for row in result.stdout.splitlines()[1:-1]}
    assert enabled["fs_ssh"] == "yes"
    assert enabled["auth_github"] == "no"
