"""labvault plugin: ChemInventory's Excel and CSV exports as starting materials
(importer type ``"cheminventory"``).

It only reads export files; matching their rows to items, creating and updating them is
the core's (``labvault inventory import``). Enable it with
``PLUGINS = ["inventory_cheminventory"]`` and configure an importer::

    INVENTORY_IMPORTERS = {"stores": {"type": "cheminventory"}}
"""

from __future__ import annotations

from labvault.plugin import InventoryImporter, hookimpl

from labvault_inventory_cheminventory.importer import CheminventoryImporter
from labvault_inventory_cheminventory.options import CheminventoryOptions

__all__ = ["CheminventoryImporter", "CheminventoryOptions"]

#: The plugin API this plugin is written against (see plugins/README.md, "Plugin API versions").
LABVAULT_PLUGIN_API = ">=2.0,<3"


@hookimpl
def labvault_inventory_importer_types() -> list[type[InventoryImporter]]:
    return [CheminventoryImporter]
