"""``labvault db``: the database schema."""

from __future__ import annotations

import click

from labvault.cli.context import cli_state
from labvault.cli.output import engine_name


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply the migrations (safe to run again)."""
    from labvault import migrations

    settings = cli_state(ctx).settings()
    engine = migrations.upgrade(settings["DATABASE_URL"], "head", settings["MARIADB_SEARCH_ENGINE"])
    click.echo(
        f"database is at revision {migrations.head_revision()}; search: {engine_name(engine)}"
    )
