"""``labvault files``: the stored files."""

from __future__ import annotations

import click

from labvault.cli.context import cli_state
from labvault.errors import LabvaultError
from labvault.files import DEFAULT_GRACE_SECONDS


@click.group()
def files() -> None:
    """Stored files."""


@files.command("gc")
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@click.option(
    "--grace-seconds",
    type=click.IntRange(min=0),
    default=DEFAULT_GRACE_SECONDS,
    show_default=True,
    help="Keep files and content younger than this: longer than any upload takes.",
)
@click.pass_context
def files_gc(ctx: click.Context, dry_run: bool, grace_seconds: int) -> None:
    """Remove files no item, block or version refers to, and their content (an export's
    archive is kept for download for a week)."""
    from labvault.audit.service import CLI
    from labvault.files_gc import collect_garbage
    from labvault.interchange.job import kept_archives

    state = cli_state(ctx)
    with state.runtime_session() as session:
        try:
            report = collect_garbage(
                session,
                state.runtime().file_store,
                grace_seconds=grace_seconds,
                dry_run=dry_run,
                actor=CLI,
                keep=kept_archives(session),
            )
        except OSError as exc:
            raise LabvaultError(f"file store: {exc}") from exc
    verb = "would remove" if dry_run else "removed"
    for removed in report.files:
        click.echo(f"{verb} file {removed.id} {removed.name} ({removed.size} bytes)")
    for digest in report.content.removed:
        click.echo(f"{verb} content {digest}")
    content = report.content
    if not (report.files or content.removed or content.temp_files_removed):
        click.echo("nothing to remove")
        return
    click.echo(
        f"{verb} {len(report.files)} file record(s), {len(content.removed)} stored "
        f"content(s) and {content.temp_files_removed} abandoned temp file(s); "
        f"{content.bytes_freed} bytes {'would be ' if dry_run else ''}freed"
    )
