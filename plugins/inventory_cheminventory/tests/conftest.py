"""Fixtures: the large generated sheet, written once per test process."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import openpyxl
import pytest
from inventory_cheminventory_big import BIG_ROWS


@pytest.fixture(scope="session")
def big_sheet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An .xlsx export of BIG_ROWS containers, written in openpyxl's write-only mode,
    with the <dimension> Excel writes at the top of a sheet added."""
    folder = tmp_path_factory.mktemp("big")
    path = folder / "written.xlsx"
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("Containers")
    sheet.append(["Barcode", "Container Name", "Location"])
    for number in range(BIG_ROWS):
        sheet.append([f"CI-{number:07d}", "Ethanol absolute", "Shelf 3"])
    workbook.save(path)
    return with_dimension(path, folder / "big.xlsx", f"A1:C{BIG_ROWS + 1}")


def with_dimension(written: Path, path: Path, cells: str) -> Path:
    """A copy of ``written`` whose first sheet declares the cells it uses, as Excel's
    sheets do. openpyxl's write-only mode leaves <dimension> out, and openpyxl then
    finds a sheet's size by parsing all of it while it loads the workbook, holding about
    80 bytes a row until it is done (openpyxl's doing; see the README)."""
    sheet = "xl/worksheets/sheet1.xml"
    with (
        zipfile.ZipFile(written) as source,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as copy,
    ):
        for part in source.infolist():
            with source.open(part) as read, copy.open(part.filename, "w") as write:
                if part.filename == sheet:
                    start = read.read(1024).replace(
                        b"</sheetPr>", f'</sheetPr><dimension ref="{cells}"/>'.encode(), 1
                    )
                    assert b"<dimension" in start
                    write.write(start)
                shutil.copyfileobj(read, write, 1024 * 1024)
    return path
