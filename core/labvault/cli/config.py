"""``labvault config``: the configuration, checked without starting the server."""

from __future__ import annotations

from typing import Any

import click
import sqlalchemy as sa

from labvault.cli.context import cli_state
from labvault.cli.output import database_hint, engine_name
from labvault.errors import ConfigError


@click.group()
def config() -> None:
    """Configuration."""


@config.command("check")
@click.pass_context
def config_check(ctx: click.Context) -> None:
    """Validate settings, plugins and their options without starting the server."""
    from labvault.app import create_app, load_plugins
    from labvault.settings import gather_raw_settings, validate_settings

    raw, source = gather_raw_settings()
    click.echo(f"config file: {source or 'none (defaults and environment only)'}")
    problems: list[str] = []
    try:
        settings = validate_settings(raw, dev=cli_state(ctx).dev)
    except ConfigError as exc:
        problems += exc.problems
        settings = None
    plugins = raw.get("PLUGINS", [])
    try:
        if settings is not None:  # everything the server checks when it starts
            create_app(settings, dev=cli_state(ctx).dev).extensions["labvault"].database.dispose()
        elif isinstance(plugins, list) and all(isinstance(p, str) for p in plugins):
            load_plugins({"PLUGINS": plugins})  # still report the plugins' problems
    except ConfigError as exc:
        problems += exc.problems
    if problems:
        raise ConfigError(problems)
    click.echo("configuration is valid")
    assert settings is not None
    click.echo(f"search: {_search_engine_of(settings)}")


def _search_engine_of(settings: dict[str, Any]) -> str:
    from labvault.db import create_engine
    from labvault.search import engine_in_use

    engine = create_engine(settings["DATABASE_URL"])
    try:
        return engine_name(engine_in_use(engine))
    except sa.exc.DBAPIError as exc:
        return f"unknown ({database_hint(exc)})"
    finally:
        engine.dispose()
