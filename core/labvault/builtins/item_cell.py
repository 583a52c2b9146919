"""The cell: an electrochemical cell, with its electrodes and electrolyte."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from labvault.builtins.item_fields import Constituents
from labvault.plugin import ItemType, hookimpl

CELL_FORMATS = ("coin", "pouch", "swagelok", "cylindrical", "in_situ", "other")


class CellFields(ma.Schema):
    cell_format = fields.String(allow_none=True, validate=validate.OneOf(CELL_FORMATS))
    positive_electrode = Constituents()
    negative_electrode = Constituents()
    electrolyte = Constituents()
    characteristic_mass = fields.Float(
        allow_none=True, validate=validate.Range(min=0), metadata={"description": "mg"}
    )


class Cell(ItemType):
    name = "cell"
    description = "An electrochemical cell: its format, electrodes and electrolyte"
    FieldsSchema = CellFields
    statuses = ("planned", "assembled", "cycling", "completed", "failed", "disassembled")
    derived_links = {
        "positive_electrode": "cell",
        "negative_electrode": "cell",
        "electrolyte": "cell",
    }


@hookimpl
def labvault_item_types() -> list[type[ItemType]]:
    return [Cell]
