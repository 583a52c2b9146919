"""``labvault sources``: the listings of the file sources."""

from __future__ import annotations

import click

from labvault.cli.context import cli_state
from labvault.cli.output import print_table
from labvault.errors import LabvaultError


@click.group()
def sources() -> None:
    """File sources: their listings."""


@sources.command("list")
@click.pass_context
def sources_list(ctx: click.Context) -> None:
    """Show every file source and the state of its listing."""
    from labvault.sources.service import FileSources, source_infos

    state = cli_state(ctx).runtime()
    with cli_state(ctx).runtime_session() as session:
        infos = source_infos(session, FileSources.configured(state.settings, state.registry))
    if not infos:
        click.echo("no file sources (FILE_SOURCES is empty)")
        return
    rows = [
        (
            i["name"],
            i["type"],
            i["entry_count"],
            "never" if i["cache_age"] is None else f"{i['cache_age']} s ago",
            i["last_error"] or "-",
        )
        for i in infos
    ]
    print_table(("name", "type", "entries", "built", "last error"), rows)


@sources.command("sync")
@click.argument("name", required=False)
@click.pass_context
def sources_sync(ctx: click.Context, name: str | None) -> None:
    """Rebuild the listing of one file source, or of all (for cron)."""
    import time

    from labvault.sources import listing
    from labvault.sources.service import FileSources

    runtime = cli_state(ctx).runtime()
    sources = FileSources.configured(runtime.settings, runtime.registry)
    with cli_state(ctx).runtime_session() as session:
        names = [name] if name else list(sources.instances)
        synced = failed = entries = 0
        for each in names:
            source = sources.get(each)
            started = time.monotonic()

            def progress(count: int, label: str = each) -> None:
                click.echo(f"\r{label}: {count} entries", nl=False, err=True)

            try:
                done = listing.rebuild(session, each, source, progress)
            except LabvaultError as exc:
                failed += 1
                click.echo(f"\n{each}: failed: {exc}", err=True)
                continue
            finally:
                source.close()
            click.echo("", err=True)
            if not done:
                click.echo(f"{each}: skipped, another process is rebuilding it")
                continue
            state = listing.state_of(session, each)
            count = state.entry_count if state is not None else 0
            synced, entries = synced + 1, entries + count
            click.echo(f"{each}: {count} entries in {time.monotonic() - started:.1f} s")
    click.echo(f"synced {synced} of {len(names)} source(s), {entries} entries, {failed} failed")
    if failed:
        raise SystemExit(1)
