"""``labvault plugins``: the plugins installed, the plugin API range each declares (read
from its source: nothing is imported) and those PLUGINS enables."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from labvault.cli.output import print_table

if TYPE_CHECKING:
    from labvault.loader import InstalledPlugin


def _declared_range(plugin: InstalledPlugin) -> str:
    """The plugin API range an installed plugin declares, read from its source."""
    from labvault.loader import read_declared_plugin_api

    declared = read_declared_plugin_api(plugin)
    return "(none)" if declared is None else declared.replace(" ", "")


@click.command("plugins")
def plugins_command() -> None:
    """List installed plugins, the plugin API range each needs and whether PLUGINS
    enables them."""
    from labvault.loader import installed_plugins
    from labvault.plugin import API_VERSION
    from labvault.settings import base_of, gather_raw_settings, inspect_settings

    raw, source = gather_raw_settings()
    # PLUGINS as the server reads it ({"env": ...} too); an invalid one enables none
    settings, _ = inspect_settings(raw, dev=True, base=base_of(source))
    enabled = settings["PLUGINS"] if settings is not None else []
    rows = [
        (
            p.name,
            p.distribution,
            p.version,
            _declared_range(p),
            "yes" if p.name in enabled else "no",
        )
        for found in installed_plugins().values()
        for p in found
    ]
    if not rows:
        click.echo("no plugins installed")
        return
    print_table(("name", "distribution", "version", "plugin_api", "enabled"), sorted(rows))
    click.echo(f"this labvault provides plugin API {API_VERSION}")
