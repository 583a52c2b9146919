"""``labvault search``: full-text search (see :mod:`labvault.search`)."""

from __future__ import annotations

import click

from labvault.cli.context import cli_state
from labvault.cli.output import Bars, engine_name


@click.group()
def search() -> None:
    """Full-text search."""


@search.command("reindex")
@click.pass_context
def search_reindex(ctx: click.Context) -> None:
    """Rebuild the search index from the items (MariaDB with Mroonga keeps a copy of
    their texts; the other databases index the items themselves)."""
    import time

    from labvault.search import engine_in_use, reindex

    started = time.monotonic()
    engine = cli_state(ctx).runtime().database.engine
    used = engine_in_use(engine)
    if used != "mroonga":
        click.echo(f"search: {engine_name(used)}, kept in step by the database: nothing to do")
        return
    bars = Bars()
    count = reindex(engine, lambda done, total: bars("reindexing", done, total))
    bars.close()
    click.echo(f"reindexed {count} items in {time.monotonic() - started:.1f} s")
