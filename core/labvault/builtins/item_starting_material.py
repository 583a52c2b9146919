"""The starting material: a container of a chemical in the lab's inventory, lab-wide."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from labvault.builtins.item_fields import valid_cas
from labvault.plugin import ItemType, SearchWeight, Text, hookimpl


class StartingMaterialFields(ma.Schema):
    barcode = fields.String(allow_none=True, validate=validate.Length(max=100))
    cas = fields.String(allow_none=True, validate=valid_cas)
    chemical_formula = Text(allow_none=True)
    smiles = fields.String(allow_none=True, validate=validate.Length(max=2000))
    molar_mass = fields.Float(
        allow_none=True,
        validate=validate.Range(min=0, min_inclusive=False),
        # apispec documents the bound but not that it is exclusive
        metadata={"description": "g/mol", "exclusiveMinimum": True},
    )
    supplier = Text(allow_none=True)
    location = Text(allow_none=True)
    container_size = fields.Float(allow_none=True, validate=validate.Range(min=0))
    container_unit = fields.String(allow_none=True, validate=validate.Length(max=20))
    chemical_purity = fields.String(allow_none=True, validate=validate.Length(max=100))
    full_percent = fields.Float(allow_none=True, validate=validate.Range(min=0, max=100))
    ghs_hazard_codes = fields.List(
        fields.String(validate=validate.Regexp(r"^(EU)?H\d{3}[A-Za-z]{0,2}$")),
        metadata={"description": "e.g. H225, H319, EUH066"},
    )
    date_acquired = fields.Date(allow_none=True)
    date_opened = fields.Date(allow_none=True)
    attributes = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=200)),
        values=fields.String(validate=validate.Length(max=2000)),
        allow_none=True,
        metadata={"description": "other properties, e.g. columns of an inventory export"},
    )


class StartingMaterial(ItemType):
    name = "starting_material"
    description = "A container of a chemical in the lab's inventory, shared by everyone"
    FieldsSchema = StartingMaterialFields
    statuses = ("available", "low", "empty", "ordered", "disposed")
    searched = {
        "cas": SearchWeight.BODY,
        "barcode": SearchWeight.BODY,
        "chemical_formula": SearchWeight.BODY,
        "supplier": SearchWeight.BODY,
        "location": SearchWeight.BODY,
        "smiles": SearchWeight.BODY,
    }
    # looking a container up by its barcode or its CAS number is an index lookup
    filterable = ("barcode", "cas")
    list_arguments = ("barcode", "cas")
    lab_wide = True


@hookimpl
def labvault_item_types() -> list[type[ItemType]]:
    return [StartingMaterial]
