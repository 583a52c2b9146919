"""Equipment: an instrument or tool of the lab, lab-wide."""

from __future__ import annotations

import marshmallow as ma

from labvault.plugin import ItemType, SearchWeight, Text, hookimpl


class EquipmentFields(ma.Schema):
    manufacturer = Text(allow_none=True)
    model = Text(allow_none=True)
    serial_numbers = Text(allow_none=True)
    location = Text(allow_none=True)
    contact = Text(allow_none=True)


class Equipment(ItemType):
    name = "equipment"
    description = "An instrument or tool of the lab, shared by everyone"
    FieldsSchema = EquipmentFields
    statuses = ("operational", "maintenance", "broken", "retired")
    searched = {
        "location": SearchWeight.BODY,
        "manufacturer": SearchWeight.BODY,
        "model": SearchWeight.BODY,
        "serial_numbers": SearchWeight.BODY,
    }
    lab_wide = True


@hookimpl
def labvault_item_types() -> list[type[ItemType]]:
    return [Equipment]
