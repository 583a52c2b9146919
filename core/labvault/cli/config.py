"""``labvault config``: the configuration, checked without starting the server."""

from __future__ import annotations

import os
from typing import Any

import click

from labvault.cli.context import cli_state
from labvault.cli.output import database_hint, engine_name
from labvault.errors import ConfigError


@click.group()
def config() -> None:
    """Configuration."""


@config.command("check")
@click.pass_context
def config_check(ctx: click.Context) -> None:
    """Validate settings, plugins, their options and what they need of this machine
    (environment variables, folders, permissions) without starting the server: every
    problem in one report, then warnings; the exit code is 0 with warnings only."""
    from labvault.preflight import check_deployment
    from labvault.settings import (
        base_of,
        gather_raw_settings,
        inspect_settings,
        locate_and_read_dotenv,
    )

    dev = cli_state(ctx).dev
    location = locate_and_read_dotenv()
    raw, source = gather_raw_settings(os.environ)
    click.echo(f"config file: {source or 'none (defaults and environment only)'}")
    settings, problems = inspect_settings(raw, dev=dev, base=base_of(source))
    findings = None
    if settings is not None:
        found, enabled_types = _plugin_problems(settings, dev=dev, settings_valid=not problems)
        problems += found
        dotenv = location.dotenv if location.dotenv.is_file() else None
        findings = check_deployment(settings, environ=os.environ, dotenv=dotenv)
        problems += findings.errors
        if enabled_types is not None:
            findings.warnings += _types_without_plugin(settings, enabled_types)
        for warning in findings.warnings:
            click.echo(f"warning: {warning}", err=True)
    if problems:
        raise ConfigError(problems)
    assert settings is not None
    warned = findings is not None and findings.warnings
    click.echo("configuration is valid" + (" (with warnings)" if warned else ""))
    click.echo(f"search: {_search_engine_of(settings)}")


def _plugin_problems(
    settings: dict[str, Any], *, dev: bool, settings_valid: bool
) -> tuple[list[str], list[str] | None]:
    """The plugins' problems: with valid settings everything the server checks when it
    starts; otherwise the plugins and their options, read with what could be loaded.
    Then the names of the enabled item types, once the server would start (else None)."""
    from labvault.app import create_app, load_plugins
    from labvault.settings import validate_settings

    try:
        if settings_valid:
            app = create_app(validate_settings(settings, dev=dev), dev=dev)
            state = app.extensions["labvault"]
            state.database.dispose()
            return [], list(state.plugins.item_types)
        load_plugins(settings)
    except ConfigError as exc:
        return exc.problems, None
    return [], None


def _types_without_plugin(settings: dict[str, Any], enabled_types: list[str]) -> list[str]:
    """A warning for each item type that has items in the database but no enabled plugin:
    its items stay readable, read-only. Nothing when the database cannot be read (the
    search line says why)."""
    import sqlalchemy as sa

    from labvault.db import create_engine
    from labvault.items.checks import types_without_plugin

    engine = create_engine(settings["DATABASE_URL"])
    try:
        with engine.connect() as connection:
            orphans = types_without_plugin(connection, enabled_types)
    except sa.exc.DBAPIError:
        return []
    finally:
        engine.dispose()
    return [
        f"items: type {name!r} has {count} item{'s' if count != 1 else ''} (the trash counted) "
        "but no enabled plugin provides it: they are read-only until one does"
        for name, count in orphans.items()
    ]


def _search_engine_of(settings: dict[str, Any]) -> str:
    import sqlalchemy as sa

    from labvault.db import create_engine
    from labvault.search import engine_in_use

    engine = create_engine(settings["DATABASE_URL"])
    try:
        return engine_name(engine_in_use(engine))
    except sa.exc.DBAPIError as exc:
        return f"unknown ({database_hint(exc)})"
    finally:
        engine.dispose()
