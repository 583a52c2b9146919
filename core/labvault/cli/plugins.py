"""``labvault plugins``: the plugins installed and those PLUGINS enables."""

from __future__ import annotations

import click

from labvault.cli.output import print_table


@click.command("plugins")
def plugins_command() -> None:
    """List installed plugins and whether PLUGINS enables them."""
    from labvault.loader import installed_plugins
    from labvault.settings import gather_raw_settings

    enabled = gather_raw_settings()[0].get("PLUGINS") or []
    rows = [
        (p.name, p.distribution, p.version, "yes" if p.name in enabled else "no")
        for found in installed_plugins().values()
        for p in found
    ]
    if not rows:
        click.echo("no plugins installed")
        return
    print_table(("name", "distribution", "version", "enabled"), sorted(rows))
