"""``labvault import``: an archive of another lab system (or a labvault export) imported
as items for a user."""

from __future__ import annotations

import json
from pathlib import Path

import click

from labvault.cli.context import cli_state
from labvault.errors import LabvaultError


@click.command("import")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--user", "who", required=True, help="Email or id of the user importing.")
@click.option(
    "--format",
    "format_name",
    help="Format name (default: the enabled format of the file's extension, e.g. .eln).",
)
@click.option("--dry-run", is_flag=True, help="Report what would be imported; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON.")
@click.pass_context
def import_command(
    ctx: click.Context,
    archive: Path,
    who: str,
    format_name: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Import an archive (eln: the ELN Consortium's .eln, when its plugin is enabled) as
    items of the user (--user): each record becomes an item, with its files (checksums
    verified), links and what could not be mapped kept as metadata. All or nothing;
    importing the same archive again makes no second item of a record."""
    from labvault.interchange.imports import Importer
    from labvault.users.service import find_user

    state = cli_state(ctx).runtime()
    importer = Importer.of(state, state.file_store)
    with cli_state(ctx).runtime_session() as session:
        user = find_user(session, who)
        if not user.is_active:
            raise LabvaultError(f"{who} is not an active user")
        with archive.open("rb") as stream:
            report = importer.run(
                session, user, stream, archive.name, format_name=format_name, dry_run=dry_run
            )
    if as_json:
        click.echo(json.dumps(report, indent=1, ensure_ascii=False))
        return
    for item in report["items"]:
        where = item["refcode"] or "(new)"
        unmapped = f"; kept as metadata: {', '.join(item['unmapped'])}" if item["unmapped"] else ""
        click.echo(
            f"{item['state']:8} {where:14} {item['type']:18} {item['name'][:40]!r}: "
            f"{len(item['files'])} files{unmapped}"
        )
    for note in report["notes"]:
        click.echo(f"note: {note}")
    done = "would be created" if dry_run else "created"
    click.echo(
        f"{report['created']} items {done}, {report['existing']} imported before "
        f"({report['format']}, from {report['exporter'] or 'an unnamed exporter'})"
    )
