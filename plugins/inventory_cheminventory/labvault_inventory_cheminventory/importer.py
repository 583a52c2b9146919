"""The ``cheminventory`` importer: ChemInventory's Excel and CSV exports, row by row."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, BinaryIO

from labvault.plugin import (
    DEFAULT_MAX_COMPRESSION_RATIO,
    Invalid,
    InventoryImporter,
    InventoryRecord,
    RowProblem,
)

from labvault_inventory_cheminventory.columns import BARCODE, Field, Kind, field_of
from labvault_inventory_cheminventory.options import GIB, CheminventoryOptions
from labvault_inventory_cheminventory.sheets import Row, XlsxSheet, csv_rows
from labvault_inventory_cheminventory.values import (
    Unreadable,
    cas_number,
    ghs_codes,
    iso_date,
    number_and_rest,
    text,
)

_OMITTED = object()
NO_BARCODE = "no barcode: the row cannot be matched on a later import"


@dataclass(frozen=True)
class Column:
    index: int
    header: str  # as written (stripped); "column 7" for a column without a header
    field: Field | None  # None: kept as an attribute


class CheminventoryImporter(InventoryImporter):
    name = "cheminventory"
    description = "ChemInventory's Excel (.xlsx) and CSV exports"
    accepted_file_extensions = (".xlsx", ".csv")
    OptionsSchema = CheminventoryOptions

    def read(self, stream: BinaryIO, filename: str) -> Iterator[InventoryRecord | RowProblem]:
        extension = PurePath(filename).suffix.lower()
        sheet: XlsxSheet | None = None
        if extension == ".xlsx":
            sheet = XlsxSheet(
                stream,
                sheet=self.options.get("sheet"),
                max_unpacked_size=self.options.get("max_unpacked_size", GIB),
                max_compression_ratio=self.options.get(
                    "max_compression_ratio", DEFAULT_MAX_COMPRESSION_RATIO
                ),
            )
            rows = sheet.rows()
        elif extension == ".csv":
            rows = csv_rows(stream, self.options.get("encoding", "utf-8-sig"))
        else:
            raise Invalid(
                f"{filename}: ChemInventory exports are read from .xlsx or .csv files, "
                f"not {extension or 'a file without an extension'}"
            )
        numbered = enumerate(rows, start=1)
        header = _header(numbered)  # reading it opened the workbook: its epoch is known
        yield from _records(numbered, header, sheet is not None and sheet.epoch_1904)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _header(numbered: Iterator[tuple[int, Row]]) -> list[Column]:
    """The columns of the first row that is not blank."""
    for _, row in numbered:
        if all(_blank(value) for value in row):
            continue
        columns: list[Column] = []
        taken: set[str] = set()
        for index, value in enumerate(row):
            header = (text(value) or "").lstrip("\ufeff").strip() or f"column {index + 1}"
            field = field_of(header)
            if field is not None and field.name in taken:
                field = None  # a second column of one field is kept as an attribute
            if field is not None:
                taken.add(field.name)
            columns.append(Column(index, header, field))
        if BARCODE not in taken:
            raise Invalid(
                "the export has no Barcode column; its columns are: "
                + ", ".join(column.header for column in columns)
            )
        return columns
    raise Invalid("the export is empty: it has no header row")


def _records(
    numbered: Iterator[tuple[int, Row]], columns: list[Column], epoch_1904: bool
) -> Iterator[InventoryRecord | RowProblem]:
    barcode_column = next(c for c in columns if c.field is not None and c.field.name == BARCODE)
    for number, row in numbered:
        cells = [
            (
                columns[index]
                if index < len(columns)
                else Column(index, f"column {index + 1}", None),
                value,
            )
            for index, value in enumerate(row)
            if not _blank(value)
        ]
        if not cells:
            continue
        record = _Record(number, epoch_1904)
        for column, value in cells:
            record.take(column, value)
        barcode = record.fields.get(BARCODE)
        if barcode is None:
            reason = record.barcode_problem or NO_BARCODE
            yield RowProblem(number, barcode_column.header, reason)
            continue
        # a barcode on two rows is reported by labvault's import engine (for every importer)
        record.finish()
        yield InventoryRecord(
            barcode, record.fields, record.attributes, number, tuple(record.warnings)
        )


class _Record:
    """The fields, attributes and warnings of one row, filled cell by cell."""

    def __init__(self, row: int, epoch_1904: bool) -> None:
        self.row = row
        self.epoch_1904 = epoch_1904
        self.fields: dict[str, Any] = {}
        self.attributes: dict[str, str] = {}
        self.warnings: list[str] = []
        self.size_unit: str | None = None  # the unit written in the Container Size cell
        self.barcode_problem: str | None = None

    def take(self, column: Column, value: Any) -> None:
        if column.field is None:
            self.keep(column.header, value)
            return
        try:
            converted = self.converted(column, column.field, value)
        except Unreadable as problem:
            if column.field.name == BARCODE:
                self.barcode_problem = str(problem)
                return
            self.warnings.append(f"row {self.row}: {problem}; kept as an attribute")
            self.keep(column.header, value)
            return
        if converted is not _OMITTED:
            self.fields[column.field.name] = converted

    def keep(self, header: str, value: Any) -> None:
        shown = text(value)
        if shown is not None:
            self.attributes[header if header not in self.attributes else f"{header} (2)"] = shown

    def converted(self, column: Column, field: Field, value: Any) -> Any:
        header = column.header
        if field.kind is Kind.TEXT:
            shown = text(value) or ""
            if field.max_length is not None and len(shown) > field.max_length:
                raise Unreadable(f"{header} is longer than {field.max_length} characters")
            return shown
        if field.kind is Kind.DATE:
            return iso_date(value, header, epoch_1904=self.epoch_1904)
        if field.kind is Kind.CAS:
            return cas_number(value)
        if field.kind is Kind.GHS:
            codes, others = ghs_codes(value)
            if others:
                listed = ", ".join(repr(word) for word in others)
                self.warnings.append(
                    f"row {self.row}: {header} {listed} "
                    f"{'is not a hazard code' if len(others) == 1 else 'are not hazard codes'}"
                    "; left out, and the cell kept as an attribute"
                )
                self.keep(header, value)
            return codes or _OMITTED
        number, rest = number_and_rest(value, header)
        _check_bounds(field, header, number)
        if field.kind is Kind.SIZE and rest:
            self.size_unit = rest
        return number

    def finish(self) -> None:
        """The unit written after the container size, if the Unit column has none."""
        unit = self.size_unit
        if unit is None or self.fields.get("container_unit"):
            return
        if len(unit) > 20:
            self.warnings.append(
                f"row {self.row}: the unit after the container size, {unit!r}, is longer "
                "than 20 characters; left out"
            )
            return
        self.fields["container_unit"] = unit


def _check_bounds(field: Field, header: str, number: float) -> None:
    low, high = field.minimum, field.maximum
    too_low = low is not None and (number < low or (number == low and not field.minimum_inclusive))
    if too_low or (high is not None and number > high):
        if high is None:
            bound = f"more than {low:g}" if not field.minimum_inclusive else f"at least {low:g}"
        else:
            bound = f"between {low:g} and {high:g}"
        raise Unreadable(f"{header} {number:g} is not {bound}")
