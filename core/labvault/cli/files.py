"""``labvault files``: the stored files."""

from __future__ import annotations

from typing import Any

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


def _store_argument(value: str | None, option: str, state: Any) -> Any:
    """The file store an option's JSON describes (``{"type": ..., **options}``), or the
    configured one; a problem is a one-line error naming the option."""
    import json

    from labvault.registry import FILE_STORES, THE_INSTANCE

    if value is None:
        return state.runtime().file_store
    try:
        spec = json.loads(value)
    except ValueError as exc:
        raise LabvaultError(f"{option}: not JSON ({exc})") from None
    if not isinstance(spec, dict):
        raise LabvaultError(f'{option}: must be an object, e.g. {{"type": "local", ...}}')
    plugins = state.runtime().plugins
    type_name = spec.pop("type", None)
    store, problems = plugins.registry.make_instance(
        FILE_STORES, THE_INSTANCE, type_name, spec, (option,), plugins.hosts.__getitem__
    )
    if problems:
        raise LabvaultError("; ".join(problems))
    return store


@files.command("move")
@click.option(
    "--to",
    "to_store",
    metavar="JSON",
    help="The store to copy into, as FILE_STORE would name it: '{\"type\": TYPE, ...}' "
    "(default: FILE_STORE).",
)
@click.option(
    "--from",
    "from_store",
    metavar="JSON",
    help="The store to copy from, the same way (default: FILE_STORE).",
)
@click.option("--no-verify", is_flag=True, help="Do not read every copy back to check it.")
@click.option("--quiet", is_flag=True, help="Print only the summary and problems.")
@click.pass_context
def files_move(
    ctx: click.Context, to_store: str | None, from_store: str | None, no_verify: bool, quiet: bool
) -> None:
    """Copy every stored content from one file store to another and verify the copies.

    Contents the target holds already are not copied again (a move that stopped goes
    on). The source is left as it is. Stop the server first, or run the command again
    after switching FILE_STORE, so that uploads made meanwhile are copied too.
    """
    from labvault.files.moving import move_contents

    if to_store is None and from_store is None:
        raise click.UsageError("name the other store: --to JSON or --from JSON")
    state = cli_state(ctx)
    source = _store_argument(from_store, "--from", state)
    target = _store_argument(to_store, "--to", state)
    if source.location == target.location:
        raise LabvaultError(f"--from and --to are the same store: {source.location}")

    def progress(info: Any, what: str) -> None:
        if not quiet:
            click.echo(f"{what} {info.sha256} ({info.size} bytes)")

    report = move_contents(source, target, verify=not no_verify, progress=progress)
    for problem in report.problems:
        click.echo(f"problem: {problem}", err=True)
    checked = "" if no_verify else f"; {report.verified} verified in {target.location}"
    click.echo(
        f"copied {report.copied} content(s) ({report.bytes_copied} bytes) from "
        f"{source.location} to {target.location}, {report.present} there already{checked}"
    )
    if report.problems:
        raise LabvaultError(f"{len(report.problems)} content(s) could not be moved")
