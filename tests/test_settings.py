"""Settings: config.py, LABVAULT_* environment, .env, validation with key paths."""

from __future__ import annotations

import json
import os
import runpy
import stat
from pathlib import Path

import pytest
from labvault.app import create_app
from labvault.errors import ConfigError
from labvault.settings import (
    SETTING_NAMES,
    gather_raw_settings,
    load_settings,
    validate_settings,
)
from labvault.settings.reading import reading_settings
from labvault.testing import TEST_SECRET_KEY

ROOT = Path(__file__).resolve().parents[1]


def problems_of(raw: dict, *, dev: bool = False) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        validate_settings(raw, dev=dev)
    return caught.value.problems


def base(tmp_path: Path, **extra: object) -> dict:
    return {
        "IDENTIFIER_PREFIX": "lab",
        "SECRET_KEY": TEST_SECRET_KEY,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        **extra,
    }


@pytest.mark.parametrize("prefix", ["", "Lab", "lab1", "abcdefghijk", "la b", "ünï", None, 3])
def test_identifier_prefix_must_be_1_to_10_lowercase_letters(tmp_path, prefix):
    problems = problems_of(base(tmp_path, IDENTIFIER_PREFIX=prefix))
    assert any(p.startswith("IDENTIFIER_PREFIX:") for p in problems), problems


def test_identifier_prefix_is_mandatory(tmp_path):
    raw = base(tmp_path)
    del raw["IDENTIFIER_PREFIX"]
    assert problems_of(raw) == ["IDENTIFIER_PREFIX: Missing data for required field."]


def test_every_problem_is_reported_at_once_with_its_key_path(tmp_path):
    raw = base(
        tmp_path,
        IDENTIFIER_PREFIX="BAD",
        SESSION_LIFETIME=0,
        PLUGINS="not-a-list",
        DEPLOYMENT_METADATA={"homepage": "not a url", "colour": "red"},
        SECRET_KEYY="typo",
    )
    problems = problems_of(raw)
    assert "IDENTIFIER_PREFIX: must be 1 to 10 lowercase ASCII letters" in problems
    assert "SESSION_LIFETIME: Must be greater than or equal to 1." in problems
    assert "PLUGINS: Not a valid list." in problems
    assert "DEPLOYMENT_METADATA.homepage: Not a valid URL." in problems
    assert "DEPLOYMENT_METADATA.colour: unknown setting" in problems
    assert "SECRET_KEYY: unknown setting (did you mean SECRET_KEY?)" in problems
    assert len(problems) == 6


def test_secret_key_is_required_in_production_and_must_be_long(tmp_path):
    raw = base(tmp_path)
    del raw["SECRET_KEY"]
    assert problems_of(raw)[0].startswith("SECRET_KEY: required in production")
    assert problems_of(base(tmp_path, SECRET_KEY="short")) == [
        "SECRET_KEY: must be at least 32 characters"
    ]


def test_development_secret_key_is_generated_once_and_kept_private(tmp_path):
    raw = base(tmp_path)
    del raw["SECRET_KEY"]
    first = validate_settings(raw, dev=True)["SECRET_KEY"]
    second = validate_settings(raw, dev=True)["SECRET_KEY"]
    key_file = tmp_path / "instance" / "secret_key"
    assert first == second == key_file.read_text()
    assert len(first) >= 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_asymmetric_jwt_needs_key_files(tmp_path):
    problems = problems_of(base(tmp_path, JWT_ALGORITHM="RS256"))
    assert problems == [
        "JWT_PRIVATE_KEY_FILE: required when JWT_ALGORITHM is RS256",
        "JWT_PUBLIC_KEY_FILE: required when JWT_ALGORITHM is RS256",
    ]
    missing = str(tmp_path / "nope.pem")
    problems = problems_of(
        base(
            tmp_path,
            JWT_ALGORITHM="ES256",
            JWT_PRIVATE_KEY_FILE=missing,
            JWT_PUBLIC_KEY_FILE=missing,
        )
    )
    assert f"JWT_PUBLIC_KEY_FILE: file {missing} does not exist" in problems
    assert problems_of(base(tmp_path, JWT_ALGORITHM="none"))[0].startswith("JWT_ALGORITHM:")


def test_defaults_live_in_the_instance_folder(tmp_path):
    settings = validate_settings(base(tmp_path))
    instance = tmp_path / "instance"
    assert settings["DATABASE_URL"] == f"sqlite:///{instance / 'labvault.db'}"
    assert settings["FILE_DIRECTORY"] == str(instance / "files")
    assert settings["PLUGINS"] == []
    assert settings["ACCESS_TOKEN_LIFETIME"] == 15
    assert settings["DEPLOYMENT_METADATA"]["maintainer"] is None


def test_config_file_then_environment_with_json_values(tmp_path, monkeypatch):
    config = tmp_path / "site.py"
    config.write_text(
        "IDENTIFIER_PREFIX = 'file'\n"
        f"SECRET_KEY = {TEST_SECRET_KEY!r}\n"
        f"INSTANCE_PATH = {str(tmp_path / 'inst')!r}\n"
        "ACCESS_TOKEN_LIFETIME = 30\n"
        "_private = 'ignored'\n"
        "lowercase = 'ignored'\n"
    )
    environ = {
        "LABVAULT_CONFIG": str(config),
        "LABVAULT_IDENTIFIER_PREFIX": "env",
        "LABVAULT_CORS_ORIGINS": '["https://a.example.org", "https://b.example.org"]',
        "LABVAULT_DEPLOYMENT_METADATA": '{"maintainer": "Lab IT"}',
        "LABVAULT_DEBUG": "true",
        "LABVAULT_UNRELATED_TOOL": "x",
    }
    settings = load_settings(environ=environ)
    assert settings["IDENTIFIER_PREFIX"] == "env"
    assert settings["ACCESS_TOKEN_LIFETIME"] == 30
    assert settings["CORS_ORIGINS"] == ["https://a.example.org", "https://b.example.org"]
    assert settings["DEPLOYMENT_METADATA"]["maintainer"] == "Lab IT"
    assert settings["DEBUG"] is True


def test_string_settings_from_the_environment_stay_strings(tmp_path):
    environ = {
        "LABVAULT_IDENTIFIER_PREFIX": "lab",
        "LABVAULT_SECRET_KEY": "1" * 40,  # valid JSON (a number), but a string setting
        "LABVAULT_INSTANCE_PATH": str(tmp_path),
    }
    assert load_settings(environ=environ)["SECRET_KEY"] == "1" * 40


def test_dot_env_in_the_working_directory_is_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(f"LABVAULT_SECRET_KEY={TEST_SECRET_KEY}\n")
    (tmp_path / "config.py").write_text("IDENTIFIER_PREFIX = 'dot'\n")
    for name in ("LABVAULT_SECRET_KEY", "LABVAULT_CONFIG"):
        monkeypatch.setenv(name, "")  # recorded, so load_dotenv's value is undone too
        monkeypatch.delenv(name)
    raw, source = gather_raw_settings()
    assert source == str(tmp_path / "config.py")
    assert raw["SECRET_KEY"] == TEST_SECRET_KEY
    assert os.environ["LABVAULT_SECRET_KEY"] == TEST_SECRET_KEY


def test_broken_or_missing_config_file_is_one_clear_problem(tmp_path):
    broken = tmp_path / "config.py"
    broken.write_text("IDENTIFIER_PREFIX = 'lab'\nPLUGINS = [\n")
    with pytest.raises(ConfigError) as caught:
        gather_raw_settings({"LABVAULT_CONFIG": str(broken)})
    assert caught.value.problems[0].startswith(f"config file {broken}: SyntaxError")
    with pytest.raises(ConfigError) as caught:
        gather_raw_settings({"LABVAULT_CONFIG": str(tmp_path / "absent.py")})
    assert "does not exist" in caught.value.problems[0]


NIGHTLY = {"target": {"type": "local", "path": "/srv/backups"}, "frequency": "1d", "retention": 3}


@pytest.mark.parametrize(
    ("written", "environ"),
    [
        ({}, {}),  # the default: the instance folder beside config.py
        ({"INSTANCE_PATH": "var/lab", "BACKUP_STRATEGIES": {"nightly": NIGHTLY}}, {}),
        ({"DATABASE_URL": "sqlite:///data/lab.db"}, {}),  # relative to config.py's folder
        ({"DATABASE_URL": "sqlite:///data/lab.db"}, {"LABVAULT_DATABASE_URL": "sqlite://"}),
        (
            {"DATABASE_URL": {"env": "LAB_DB"}},
            {"LAB_DB": "mysql+pymysql://lab:secret@db.lab.org/lab?charset=utf8mb4"},
        ),
        ({}, {"LABVAULT_BACKUP_STRATEGIES": json.dumps({"nightly": NIGHTLY})}),
        ({"BACKUP_STRATEGIES": {"env": "STRATEGIES"}}, {"STRATEGIES": json.dumps({"n": NIGHTLY})}),
    ],
)
def test_a_reading_command_reads_its_settings_as_the_schema_does(tmp_path, written, environ):
    """``labvault audit`` and ``backup due`` read DATABASE_URL and BACKUP_STRATEGIES
    without the schema: what they read is what the validated settings say."""
    config = tmp_path / "site" / "config.py"
    config.parent.mkdir()
    raw = {"IDENTIFIER_PREFIX": "lab", "SECRET_KEY": TEST_SECRET_KEY, **written}
    config.write_text("".join(f"{k} = {v!r}\n" for k, v in raw.items()))
    environ = {"LABVAULT_CONFIG": str(config), **environ}
    read = reading_settings(environ)
    settings = load_settings(environ=environ)
    assert read is not None
    assert read.database_url == settings["DATABASE_URL"]
    assert {name: s["frequency"] for name, s in read.backup_strategies.items()} == {
        name: s["frequency"] for name, s in settings["BACKUP_STRATEGIES"].items()
    }


@pytest.mark.parametrize(
    ("written", "environ"),
    [
        ({"DATABASE_URL": 5}, {}),
        ({"INSTANCE_PATH": None}, {}),
        ({}, {"LABVAULT_DATABASE_URL": "null"}),
        ({"DATABASE_URL": {"env": "LAB_DB"}}, {}),  # a variable that is not set
        ({"BACKUP_STRATEGIES": {"nightly": {**NIGHTLY, "frequency": "daily"}}}, {}),
        ({"BACKUP_STRATEGIES": {"nightly": "1d"}}, {}),
        ({}, {"LABVAULT_BACKUP_STRATEGIES": "nightly"}),
    ],
)
def test_a_reading_command_leaves_what_is_not_plain_to_the_schema(tmp_path, written, environ):
    config = tmp_path / "config.py"
    config.write_text("".join(f"{k} = {v!r}\n" for k, v in written.items()))
    assert reading_settings({"LABVAULT_CONFIG": str(config), **environ}) is None


def test_create_app_refuses_invalid_settings(tmp_path):
    with pytest.raises(ConfigError) as caught:
        create_app(base(tmp_path, MAX_CONTENT_LENGTH=-1, DATABASE_URL="nosuchdb://x"))
    assert caught.value.problems == ["MAX_CONTENT_LENGTH: Must be greater than or equal to 1."]
    with pytest.raises(ConfigError) as caught:
        create_app(base(tmp_path, DATABASE_URL="nosuchdb://x"))
    assert caught.value.problems[0].startswith("DATABASE_URL:")


def test_the_template_documents_every_setting_and_is_a_valid_config(tmp_path, monkeypatch):
    template = (ROOT / "config-template.py").read_text()
    undocumented = [
        name
        for name in SETTING_NAMES
        if f"# {name} =" not in template and f"\n{name} =" not in template
    ]
    assert undocumented == []
    for name in SETTING_NAMES:
        section = template.split(f"{name} =")[0].rsplit("\n\n", 1)[-1]
        assert "Default" in section or name == "IDENTIFIER_PREFIX", f"{name}: no default"
    monkeypatch.chdir(tmp_path)
    values = {
        k: v for k, v in runpy.run_path(str(ROOT / "config-template.py")).items() if k.isupper()
    }
    assert set(values) <= SETTING_NAMES
    settings = validate_settings(values, dev=True)
    assert settings["IDENTIFIER_PREFIX"] == "lab"
