"""The files of deploy/ say what labvault does: the commands and options they run exist,
nginx's body limit is labvault's. (`make test-deploy` runs them for real; these catch a
rename here at once.)"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
from labvault.cli import cli
from labvault.settings import SettingsSchema

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
NGINX_SIZES = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def labvault_commands(path: Path) -> list[list[str]]:
    """Each labvault command line of a file: the words after `.../bin/labvault`,
    continuation lines joined."""
    text = path.read_text().replace("\\\n", " ")
    return [
        shlex.split(match) for match in re.findall(r"/opt/labvault/bin/labvault\s+([^\n]+)", text)
    ]


def parses(words: list[str]) -> click.Command:
    """The command these words name, its options parsed as labvault's CLI would."""
    command: click.Command = cli
    context: click.Context | None = None
    name, rest = "labvault", list(words)
    while isinstance(command, click.Group):
        context = click.Context(command, info_name=name, parent=context)
        found, sub, rest = command.resolve_command(context, rest)
        assert found is not None and sub is not None, f"no command {words}"
        name, command = found, sub
    command.make_context(name, rest, parent=context)
    return command


@pytest.mark.parametrize(
    "path",
    [DEPLOY / "cron" / "labvault", DEPLOY / "systemd" / "labvault.service"],
    ids=lambda path: path.name,
)
def test_every_labvault_command_deploy_runs_exists_with_its_options(path: Path) -> None:
    commands = labvault_commands(path)
    assert commands, f"{path} runs no labvault command"
    for words in commands:
        parses(words)


def test_the_check_would_catch_a_renamed_command_or_option() -> None:
    with pytest.raises(click.UsageError):
        parses(["backup", "when-due"])
    with pytest.raises(click.NoSuchOption):
        parses(["serve", "--pidfile", "x"])


def test_nginx_takes_the_uploads_labvault_takes() -> None:
    site = (DEPLOY / "nginx" / "labvault.conf").read_text()
    limits = re.findall(r"(?m)^\s*client_max_body_size\s+(\d+)([kmg]?);", site)
    assert len(limits) == 1, limits
    number, unit = limits[0]
    nginx_limit = int(number) * NGINX_SIZES.get(unit, 1)
    assert nginx_limit == SettingsSchema().load({"IDENTIFIER_PREFIX": "lab"})["MAX_CONTENT_LENGTH"]


def test_the_containers_health_check_asks_health_ready() -> None:
    containerfile = (DEPLOY / "Containerfile").read_text()
    compose = (DEPLOY / "compose.yaml").read_text()
    for text in (containerfile, compose):
        assert "http://127.0.0.1:8000/health/ready" in text
    assert re.search(r"(?m)^USER labvault$", containerfile), "the image runs as a non-root user"
