"""The sample: something a lab made, with how it was made and from what."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from labvault.builtins.item_fields import Constituents
from labvault.plugin import ItemType, SearchWeight, Text, hookimpl


class SampleFields(ma.Schema):
    chemical_formula = Text(allow_none=True)
    synthesis_description = fields.String(allow_none=True, validate=validate.Length(max=200_000))
    synthesis_constituents = Constituents()


class Sample(ItemType):
    name = "sample"
    description = "Something the lab made: its formula, synthesis and constituents"
    FieldsSchema = SampleFields
    statuses = ("planned", "synthesized", "characterized", "consumed", "discarded")
    searched = {
        "chemical_formula": SearchWeight.BODY,
        "synthesis_description": SearchWeight.BODY,
    }
    derived_links = {"synthesis_constituents": "synthesis"}


@hookimpl
def labvault_item_types() -> list[type[ItemType]]:
    return [Sample]
