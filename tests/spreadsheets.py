""".xlsx workbooks built in a test: a real one (openpyxl) and a zip bomb made from it."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from typing import Any

import openpyxl

MIB = 1024**2
SHEET = "xl/worksheets/sheet1.xml"
_SHEET_START = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
    + b"<row>"
    + b"".join(b'<c t="inlineStr"><is><t>signal %d</t></is></c>' % n for n in range(10))
    + b"</row>"
)
_SHEET_END = b"</sheetData></worksheet>"
#: One row of ten number cells: 150 bytes that deflate packs about 250 times.
REPEATED_ROW = b"<row>" + b"<c><v>1.5</v></c>" * 10 + b"</row>"


def xlsx_bytes(rows: Sequence[Sequence[Any]]) -> bytes:
    """An .xlsx workbook whose first sheet holds ``rows``."""
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def xlsx_bomb(unpacked_size: int, row: bytes = REPEATED_ROW) -> bytes:
    """A real .xlsx workbook whose sheet is ``row`` repeated to about ``unpacked_size``
    bytes of valid XML, deflated as any zip writer does (streamed, level 9): openpyxl
    reads it in full, cell by cell."""
    source = zipfile.ZipFile(io.BytesIO(xlsx_bytes([])))
    buffer = io.BytesIO()
    with source, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as bomb:
        for part in source.infolist():
            if part.filename != SHEET:
                bomb.writestr(part, source.read(part))
                continue
            chunk = row * (MIB // len(row))
            with bomb.open(SHEET, "w") as sheet:
                sheet.write(_SHEET_START)
                for _ in range(max(1, unpacked_size // len(chunk))):
                    sheet.write(chunk)
                sheet.write(_SHEET_END)
    return buffer.getvalue()
