"""``labvault export``: items exported to an interchange format, as a user may read them."""

from __future__ import annotations

from pathlib import Path

import click

from labvault.cli.context import cli_state
from labvault.errors import LabvaultError


@click.command("export")
@click.option("--user", "who", required=True, help="Email or id of the user exporting.")
@click.option("--item", "refcode", metavar="REFCODE", help="Export this item.")
@click.option(
    "--depth",
    type=click.IntRange(0, 5),
    default=0,
    show_default=True,
    help="With --item: also the items related to it, up to this many steps.",
)
@click.option("--collection", metavar="ID", help="Export the items of this collection.")
@click.option("--all", "everything", is_flag=True, help="Export every item the user may read.")
@click.option("--versions", is_flag=True, help="Also export every version of each item.")
@click.option("--format", "format_name", default="eln", show_default=True, help="Format name.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (default: named after the export, in the current folder).",
)
@click.pass_context
def export_command(
    ctx: click.Context,
    who: str,
    refcode: str | None,
    depth: int,
    collection: str | None,
    everything: bool,
    versions: bool,
    format_name: str,
    output: Path | None,
) -> None:
    """Export items to an interchange format (eln: the ELN Consortium's .eln, when its
    plugin is enabled): one item (--item, with --depth its related items), a collection
    (--collection) or everything (--all), as the user (--user) may read them. The file
    is written whole or not at all."""
    from labvault.files.storage import written_whole
    from labvault.interchange import exports
    from labvault.registry import INTERCHANGE_FORMATS
    from labvault.users.service import find_user

    if sum((refcode is not None, collection is not None, everything)) != 1:
        raise click.UsageError("give one of --item, --collection and --all")
    if depth and refcode is None:
        raise click.UsageError("--depth goes with --item")
    state = cli_state(ctx).runtime()
    formats = state.registry.instances_of(INTERCHANGE_FORMATS)
    if format_name not in formats:
        enabled = ", ".join(sorted(formats)) or "none: enable a plugin that provides one"
        raise click.BadParameter(
            f"no format {format_name!r} (enabled: {enabled})", param_hint="--format"
        )
    written = formats[format_name]
    exporter = exports.Exporter.of(state)
    with cli_state(ctx).runtime_session() as session:
        user = find_user(session, who)
        if not user.is_active:
            raise LabvaultError(f"{who} is not an active user")
        if refcode is not None:
            chosen = exports.choose_item(session, user, refcode, depth)
        elif collection is not None:
            chosen = exports.choose_collection(session, user, collection)
        else:
            chosen = exports.choose_all(session, user)
        export = exporter.export(session, user, chosen, versions=versions)
    path = (output or Path(f"{export.name}{written.file_extension}")).absolute()
    with written_whole(path) as stream:
        for chunk in written.write(export):
            stream.write(chunk)
    click.echo(f"{len(chosen.item_ids)} items exported to {path} ({path.stat().st_size} bytes)")
