"""``labvault inventory``: inventory imports."""

from __future__ import annotations

from pathlib import Path

import click

from labvault.cli.context import cli_state
from labvault.errors import LabvaultError


@click.group()
def inventory() -> None:
    """Inventory imports."""


@inventory.command("import")
@click.argument("instance")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--user", "who", required=True, help="Email or id of the manager importing.")
@click.option("--dry-run", is_flag=True, help="Report what would happen; write nothing.")
@click.option("--mark-missing", metavar="STATUS", help="Status for items the export lacks.")
@click.pass_context
def inventory_import(
    ctx: click.Context,
    instance: str,
    file: Path,
    who: str,
    dry_run: bool,
    mark_missing: str | None,
) -> None:
    """Import an inventory export FILE with the importer INSTANCE."""
    from labvault.auth.models import Role
    from labvault.inventory.service import Importers, import_file
    from labvault.users.service import find_user

    def progress(rows: int) -> None:
        click.echo(f"\r{rows} rows read", nl=False, err=True)

    state = cli_state(ctx).runtime()
    with cli_state(ctx).runtime_session() as session:
        user = find_user(session, who)
        if not user.is_active or not user.has_role(Role.MANAGER):
            raise LabvaultError(f"{who} is not an active manager or admin")
        with file.open("rb") as stream:
            report = import_file(
                session,
                Importers.configured(state.settings, state.registry),
                user,
                instance,
                stream,
                file.name,
                dry_run=dry_run,
                mark_missing=mark_missing,
                progress=progress,
            )
    click.echo("", err=True)
    for rejected in report["rejected"]:
        column = f" {rejected['column']}" if rejected["column"] else ""
        click.echo(f"row {rejected['row']}{column}: rejected: {rejected['reason']}")
    for warning in report["warnings"]:
        click.echo(f"row {warning['row']}: warning: {warning['warning']}")
    if report["missing"]:
        click.echo(f"missing from the export: {' '.join(report['missing'])}")
    counts = ", ".join(f"{count} {what}" for what, count in report["counts"].items())
    click.echo(f"{'dry run, nothing written: ' if dry_run else ''}{counts}")
