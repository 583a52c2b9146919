"""``labvault items``: the stored items, checked against their types."""

from __future__ import annotations

import click

from labvault.cli.context import cli_state


@click.group()
def items() -> None:
    """Stored items."""


@items.command("check-type")
@click.argument("type_name", metavar="TYPE")
@click.pass_context
def items_check_type(ctx: click.Context, type_name: str) -> None:
    """List the items of TYPE (those in the trash too) that no longer validate against the
    type as its plugin declares it now (a field removed or made stricter, a status
    dropped): each with its problems, field by field. Exit code 0 when every item
    validates, 1 when some do not. Such items stay readable; a change checks the fields
    it sends."""
    from labvault.items.checks import TypeCheck, check_type

    runtime = cli_state(ctx).runtime()
    catalogue = runtime.plugins.item_types
    if type_name not in catalogue:
        raise click.BadParameter(
            f"{type_name!r} is not an enabled item type; enabled: {', '.join(sorted(catalogue))}",
            param_hint="TYPE",
        )
    totals = TypeCheck()
    with runtime.database.engine.connect() as connection:
        for found in check_type(connection, catalogue.info(type_name), totals):
            where = " (in the trash)" if found.trashed else ""
            click.echo(f"{found.refcode} {found.item_id}{where}")
            for problem in found.problems:
                click.echo(f"  {problem}")
    if not totals.failed:
        click.echo(f"all {totals.checked} items of type {type_name} validate")
        return
    trashed = f" ({totals.failed_in_trash} in the trash)" if totals.failed_in_trash else ""
    click.echo(
        f"{totals.failed} of {totals.checked} items of type {type_name} do not validate{trashed}"
    )
    ctx.exit(1)
