"""Export files built in a test: .xlsx workbooks (openpyxl), CSV files (csv), a zip bomb
written by hand, and helpers to read them with a ChemInventory importer."""

from __future__ import annotations

import csv
import datetime as dt
import io
import struct
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import openpyxl
from labvault.plugin import InventoryRecord, RowProblem
from labvault_inventory_cheminventory import CheminventoryImporter, CheminventoryOptions

Rows = Sequence[Sequence[Any]]

#: A ChemInventory export's columns, in the order of its Excel export, with three
#: columns labvault has no field for.
HEADER = [
    "Container Name",
    "Barcode",
    "Location",
    "Container Size",
    "Unit",
    "Substance CAS",
    "Supplier",
    "Date Acquired",
    "Date opened",
    "Chemical purity",
    "Full %",
    "GHS H-codes",
    "Molecular Weight",
    "Molecular Formula",
    "SMILES",
    "Comments",
    "Owner",
    "Price",
    "Catalog #",
]

#: Rows as the Excel export has them: dates as date cells, numbers as numbers.
EXCEL_ROWS: list[list[Any]] = [
    [
        "Ethanol absolute",
        "CI-000101",
        "Lab 2.14 > Flammables cabinet",
        2.5,
        "L",
        "64-17-5",
        "Sigma-Aldrich",
        dt.datetime(2024, 3, 1),
        dt.datetime(2024, 4, 15, 10, 30),
        "≥99.8 %",
        80,
        "H225, H319",
        46.07,
        "C2H6O",
        "CCO",
        "for HPLC",
        "Marie Curie",
        42.5,
        "32205-2.5L",
    ],
    [
        "Acetone",
        "CI-000102",
        "Lab 2.14 > Flammables cabinet",
        500,
        "mL",
        "67-64-1",
        "VWR",
        dt.datetime(2023, 11, 20),
        None,
        "99.5%",
        35.5,
        "H225; H319; H336; EUH066",
        58.08,
        "C3H6O",
        "CC(C)=O",
        None,
        "Pierre Curie",
        None,
        "20066.330",
    ],
    [
        "Sodium chloride",
        "CI-000103",
        "Lab 2.15 > Shelf B",
        1,
        "kg",
        "7647-14-5",
        "Carl Roth",
        dt.datetime(2022, 1, 10),
        dt.datetime(2022, 2, 1),
        "≥99.5 %, p.a.",
        100,
        None,
        58.44,
        "NaCl",
        "[Na+].[Cl-]",
        "Dry before use.\nKeep closed.",
        None,
        12,
        "3957.1",
    ],
]


def csv_text(value: Any) -> str:
    """A cell as ChemInventory's CSV export writes it."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M") if value.time() else value.date().isoformat()
    return str(value)


def write_xlsx(
    path: Path,
    rows: Rows,
    *,
    title: str = "Containers",
    other_sheets: Iterable[str] = (),
    date_format: str = "yyyy-mm-dd",
) -> Path:
    """An .xlsx workbook whose first (active) sheet holds ``rows``; datetimes are date
    cells, as Excel writes them."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = title
    for row in rows:
        sheet.append(list(row))
    for row_cells in sheet.iter_rows():
        for cell in row_cells:
            if isinstance(cell.value, dt.datetime):
                cell.number_format = date_format
    for name in other_sheets:
        workbook.create_sheet(name).append(["Barcode", "Container Name"])
    workbook.save(path)
    return path


def write_csv(
    path: Path, rows: Rows, *, delimiter: str = ",", encoding: str = "utf-8", bom: bool = False
) -> Path:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerows([csv_text(value) for value in row] for row in rows)
    data = buffer.getvalue().encode(encoding)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def importer(**options: Any) -> CheminventoryImporter:
    return CheminventoryImporter(
        "stores",
        CheminventoryOptions().load(options),
        None,  # type: ignore[arg-type]  # reading files needs no host
    )


def read(path: Path, **options: Any) -> list[InventoryRecord | RowProblem]:
    with path.open("rb") as stream:
        return list(importer(**options).read(stream, path.name))


def records(path: Path, **options: Any) -> list[InventoryRecord]:
    read_back = read(path, **options)
    assert all(isinstance(record, InventoryRecord) for record in read_back), read_back
    return read_back  # type: ignore[return-value]


def one(header: Sequence[str], row: Sequence[Any], tmp_path: Path, **options: Any) -> Any:
    """The one record (or row problem) of an .xlsx file with ``header`` and ``row``."""
    (found,) = read(write_xlsx(tmp_path / "one.xlsx", [header, row]), **options)
    return found


# -- a zip bomb, written by hand ----------------------------------------------------

_SHEET_START = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>Barcode</t></is></c></row>'
)
_SHEET_END = b"</sheetData></worksheet>"
_CHUNK = 1024 * 1024


def _deflated(data: bytes, *, last: bool = False) -> bytes:
    """``data`` as raw deflate blocks of their own: a fresh compressor, flushed so that
    the blocks end on a byte and the next ones start with no history."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(
        zlib.Z_FINISH if last else zlib.Z_FULL_FLUSH
    )


def write_zip_bomb(path: Path, unpacked_size: int) -> Path:
    """A small .xlsx whose sheet1.xml unpacks to ``unpacked_size`` bytes (under 4 GiB),
    mostly spaces between the XML's elements: valid XML, and a real zip a reader would
    unpack in full. Its other parts come from a real workbook.

    The sheet's deflate stream repeats one compressed 1 MiB block of spaces, so that
    writing it compresses 1 MiB once, not gigabytes.
    """
    assert unpacked_size < 2**32
    real = io.BytesIO()
    openpyxl.Workbook().save(real)
    parts: list[tuple[str, bytes, int, int]] = []  # name, deflated, crc, size
    with zipfile.ZipFile(real) as archive:
        for name in archive.namelist():
            if name != "xl/worksheets/sheet1.xml":
                data = archive.read(name)
                parts.append((name, _deflated(data, last=True), zlib.crc32(data), len(data)))

    spaces = unpacked_size - len(_SHEET_START) - len(_SHEET_END)
    chunks, rest = divmod(spaces, _CHUNK)
    chunk = b" " * _CHUNK
    block = _deflated(chunk)
    crc = zlib.crc32(_SHEET_START)
    for _ in range(chunks):
        crc = zlib.crc32(chunk, crc)
    crc = zlib.crc32(b" " * rest + _SHEET_END, crc)
    sheet = b"".join(
        [_deflated(_SHEET_START), block * chunks, _deflated(b" " * rest + _SHEET_END, last=True)]
    )
    parts.append(("xl/worksheets/sheet1.xml", sheet, crc, unpacked_size))

    with path.open("wb") as out:
        directory = b""
        for name, data, part_crc, size in parts:
            offset = out.tell()
            encoded = name.encode()
            fixed = (20, 0, 8, 0, 0x21, part_crc, len(data), size, len(encoded))
            out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, *fixed, 0) + encoded + data)
            directory += (
                struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, *fixed, 0, 0, 0, 0, 0, offset)
                + encoded
            )
        start = out.tell()
        out.write(directory)
        out.write(
            struct.pack(
                "<IHHHHIIH", 0x06054B50, 0, 0, len(parts), len(parts), len(directory), start, 0
            )
        )
    return path
