"""Inventory importers: the base class and what an importer reads from an export."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO, ClassVar

from labvault.plugin._types import PluginType


@dataclass(frozen=True)
class InventoryRecord:
    """One container of an inventory export, to become (or update) a starting material.

    ``external_id`` identifies it in the inventory (a barcode) and is how a re-import
    finds the item made from it. ``fields`` are starting-material fields as
    ``POST /items`` takes them (``name``, ``barcode``, ``cas``, ``supplier``,
    ``location``, ``container_size``, ``container_unit``, ``chemical_purity``,
    ``full_percent``, ``ghs_hazard_codes``, ``molar_mass``, ``chemical_formula``,
    ``smiles``, ``date_acquired``, ``date_opened``, ``description``); the core validates
    them. ``attributes`` are the export's other columns, by header, kept on the item.
    ``row`` is the record's row in the file (1 is the first row, the header);
    ``warnings`` are problems the row was imported despite (a bad CAS check digit).
    """

    external_id: str
    fields: Mapping[str, Any]
    attributes: Mapping[str, str]
    row: int
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class RowProblem:
    """A row that cannot be imported: its number, the column at fault (if one) and why."""

    row: int
    column: str | None
    reason: str


class InventoryImporter(PluginType):
    """A chemical inventory system whose exports become starting materials.

    The importer only reads a file; the core's engine matches its records to items by
    (importer instance, external id), creates, updates or reports them, in one
    transaction, and keeps the report.
    """

    #: File name extensions (lowercase, with the dot) the importer reads, e.g. ``(".xlsx",)``.
    accepted_file_extensions: ClassVar[tuple[str, ...]] = ()

    def read(self, stream: BinaryIO, filename: str) -> Iterator[InventoryRecord | RowProblem]:
        """Stream the records of an export, and a :class:`RowProblem` for each row that
        cannot be one, in row order, with memory that does not grow with the file.

        Raise :class:`~labvault.plugin.Invalid` with a message for the whole file when it
        cannot be read at all (not this format, a required column missing, text that
        does not decode): the core then imports nothing.
        """
        raise NotImplementedError
