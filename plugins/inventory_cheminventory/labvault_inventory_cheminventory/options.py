"""The options of a ChemInventory importer (``INVENTORY_IMPORTERS = {"stores": {...}}``)."""

from __future__ import annotations

import marshmallow as ma
from labvault.plugin import DEFAULT_MAX_COMPRESSION_RATIO
from marshmallow import fields, validate

GIB = 1024**3
MIB = 1024**2


def _text_encoding(name: str) -> None:
    """A codec Python knows that decodes bytes to text (not e.g. ``"base64"``)."""
    try:
        b"x".decode(name)  # (decoding b"" skips the lookup)
    except LookupError as error:
        raise ma.ValidationError(f"not a text encoding Python knows: {error}") from None
    except UnicodeError:
        pass  # b"x" is not utf-16, but utf-16 is an encoding


class CheminventoryOptions(ma.Schema):
    """What a deployer sets for a ChemInventory importer."""

    class Meta:
        unknown = ma.RAISE

    description = fields.String(load_default="", metadata={"description": "shown to users"})
    encoding = fields.String(
        load_default="utf-8-sig",
        validate=_text_encoding,
        metadata={"description": "of CSV exports (UTF-8, with or without a BOM, by default)"},
    )
    sheet = fields.String(
        load_default=None,
        validate=validate.Length(min=1),
        metadata={"description": "the sheet of an .xlsx export to read (default: the active one)"},
    )
    max_unpacked_size = fields.Integer(
        load_default=GIB,
        validate=validate.Range(min=MIB),
        metadata={"description": "bytes an .xlsx file may unpack to (its parts together)"},
    )
    max_compression_ratio = fields.Integer(
        load_default=DEFAULT_MAX_COMPRESSION_RATIO,
        validate=validate.Range(min=10),
        metadata={
            "description": "how much larger than packed an .xlsx part of 1 MiB or more may be"
        },
    )
