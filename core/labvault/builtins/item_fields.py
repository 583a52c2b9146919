"""Fields the built-in item types share: constituents (an ingredient, an electrode's
component) and a CAS registry number."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from labvault.plugin import Quantity, Text


def valid_cas(value: str) -> None:
    """CAS registry numbers: digits-digits-check digit, with a valid check digit."""
    match = re.fullmatch(r"(\d{2,7})-(\d{2})-(\d)", value)
    if match is None:
        raise ma.ValidationError("not a CAS number (like 7732-18-5)")
    digits = (match.group(1) + match.group(2))[::-1]
    if sum(i * int(d) for i, d in enumerate(digits, 1)) % 10 != int(match.group(3)):
        raise ma.ValidationError("CAS number check digit is wrong")


class ConstituentSchema(ma.Schema):
    """An ingredient or component: another item (by refcode) or an inline substance name."""

    class Meta:
        unknown = ma.RAISE

    item = fields.String(
        allow_none=True, load_default=None, metadata={"description": "refcode of an item"}
    )
    name = Text(allow_none=True, load_default=None)
    quantity = fields.Float(allow_none=True, load_default=None, validate=validate.Range(min=0))
    unit = fields.String(load_default="", validate=validate.Length(max=20))

    @ma.validates_schema
    def _one_of_item_or_name(self, data: Mapping[str, Any], **_: Any) -> None:
        if bool(data.get("item")) == bool(data.get("name")):
            raise ma.ValidationError("give either item (a refcode) or name", "_schema")


def Constituents() -> fields.List:
    """A list of constituents; name the field in ``derived_links`` to link their items."""
    return fields.List(fields.Nested(ConstituentSchema))


__all__ = ["ConstituentSchema", "Constituents", "Quantity", "valid_cas"]
