"""labvault-item-types-battery: item types of a battery lab.

``cycling_run``: a cell cycled on a channel of a battery cycler, with its protocol,
C-rate, temperature and cycle count. Lists filter and sort cycling runs by C-rate,
temperature and cycles (``GET /items?type=cycling_run&field.c_rate.gte=0.5``); the cell
lists the run as related (origin ``cycling``). See README.md.
"""

from __future__ import annotations

from labvault.plugin import ItemType, hookimpl

from labvault_item_types_battery.cycling import CyclingRun

__all__ = ["CyclingRun"]

#: The plugin API this plugin is written against (see plugins/README.md, "Plugin API versions").
LABVAULT_PLUGIN_API = ">=2.0,<3"


@hookimpl
def labvault_item_types() -> list[type[ItemType]]:
    return [CyclingRun]
