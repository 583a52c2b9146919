"""ChemInventory's export columns and the starting-material fields they become."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(Enum):
    """How a column's cells are read."""

    TEXT = "text"
    NUMBER = "number"
    SIZE = "size"  # a number, possibly followed by its unit ("500 mL")
    DATE = "date"
    CAS = "cas"
    GHS = "ghs"


@dataclass(frozen=True)
class Field:
    """The starting-material field a column fills, with the bounds the core checks (a
    value outside them is kept as an attribute instead of failing the row)."""

    name: str
    kind: Kind
    max_length: int | None = None
    minimum: float | None = None
    minimum_inclusive: bool = True
    maximum: float | None = None


BARCODE = "barcode"

#: Column (as written in ChemInventory's export) -> field.
COLUMNS: dict[str, Field] = {
    "Barcode": Field(BARCODE, Kind.TEXT, max_length=100),
    "Container Name": Field("name", Kind.TEXT, max_length=500),
    "Container Size": Field("container_size", Kind.SIZE, minimum=0),
    "Unit": Field("container_unit", Kind.TEXT, max_length=20),
    "Supplier": Field("supplier", Kind.TEXT, max_length=500),
    "Location": Field("location", Kind.TEXT, max_length=500),
    "Comments": Field("description", Kind.TEXT, max_length=200_000),
    "Date Acquired": Field("date_acquired", Kind.DATE),
    "Date opened": Field("date_opened", Kind.DATE),
    "Chemical purity": Field("chemical_purity", Kind.TEXT, max_length=100),
    "Full %": Field("full_percent", Kind.NUMBER, minimum=0, maximum=100),
    "Substance CAS": Field("cas", Kind.CAS),
    "GHS H-codes": Field("ghs_hazard_codes", Kind.GHS),
    "Molecular Weight": Field("molar_mass", Kind.NUMBER, minimum=0, minimum_inclusive=False),
    "Molecular Formula": Field("chemical_formula", Kind.TEXT, max_length=500),
    "SMILES": Field("smiles", Kind.TEXT, max_length=2000),
}


def header_key(header: str) -> str:
    """What headers are matched by: case and every space ignored (``"Date  opened"``,
    ``"DATEOPENED"`` and ``"date opened"`` are one column)."""
    return "".join(header.replace("\ufeff", "").split()).casefold()


_BY_KEY = {header_key(header): field for header, field in COLUMNS.items()}


def field_of(header: str) -> Field | None:
    """The field a column fills, or None for a column kept as an attribute."""
    return _BY_KEY.get(header_key(header))
