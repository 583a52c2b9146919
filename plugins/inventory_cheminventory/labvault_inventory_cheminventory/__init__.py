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


@hookimpl
def labvault_inventory_importer_types() -> list[type[InventoryImporter]]:
    return [CheminventoryImporter]
