"""Files that must be refused whole, or read in little memory: not a spreadsheet, a
damaged one, a zip bomb, a million rows, text in another encoding."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest
from inventory_cheminventory_big import BIG_ROWS, measure_reading
from inventory_cheminventory_files import (
    EXCEL_ROWS,
    HEADER,
    read,
    records,
    write_csv,
    write_xlsx,
    write_zip_bomb,
)
from labvault.plugin import Invalid
from labvault.testing import within

GIB = 1024**3
MIB = 1024**2


def test_random_bytes_are_not_an_xlsx_file(tmp_path: Path) -> None:
    path = tmp_path / "export.xlsx"
    path.write_bytes(os.urandom(4096))

    with pytest.raises(Invalid, match=r"^the \.xlsx file is not a zip archive$"):
        read(path)


def test_an_old_xls_workbook_is_named(tmp_path: Path) -> None:
    path = tmp_path / "export.xlsx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(1024))

    with pytest.raises(Invalid, match=r"older Excel \(\.xls\) workbook"):
        read(path)


def test_a_zip_that_is_no_workbook(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "export.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "hello")

    with pytest.raises(Invalid, match=r"not an Excel \.xlsx file that can be read"):
        read(path)


def test_a_file_cut_in_half(tmp_path: Path) -> None:
    whole = write_xlsx(tmp_path / "whole.xlsx", [HEADER, *EXCEL_ROWS]).read_bytes()
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(whole[: len(whole) // 2])

    with pytest.raises(Invalid, match=r"damaged or cut short"):
        read(cut)


def test_a_sheet_damaged_inside_is_refused_while_reading(tmp_path: Path) -> None:
    """The zip's directory is intact but the sheet's packed bytes are not: the reader
    finds out only while it reads the rows, and raises Invalid then."""
    import zipfile

    path = write_xlsx(tmp_path / "export.xlsx", [HEADER, *EXCEL_ROWS * 200])
    with zipfile.ZipFile(path) as archive:
        sheet = archive.getinfo("xl/worksheets/sheet1.xml")
        start = sheet.header_offset + 30 + len(sheet.filename.encode()) + len(sheet.extra)
    data = bytearray(path.read_bytes())
    for index in range(start + sheet.compress_size // 2, start + sheet.compress_size // 2 + 64):
        data[index] ^= 0x5A
    path.write_bytes(bytes(data))

    with pytest.raises(Invalid, match=r"damaged"):
        read(path)


def test_a_zip_bomb_is_refused_before_anything_is_unpacked(tmp_path: Path) -> None:
    bomb = write_zip_bomb(tmp_path / "bomb.xlsx", 2 * GIB)
    assert bomb.stat().st_size < 3 * MIB  # 2 GiB of sheet in a file this small

    tracemalloc.start()
    try:
        with within(2), pytest.raises(Invalid) as refused:
            read(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert "max_unpacked_size" in str(refused.value)
    assert "unpacks to 21474" in str(refused.value)  # 2 GiB and the other parts
    assert peak < 5 * MIB, f"peak {peak / MIB:.1f} MiB"


def test_a_highly_compressed_sheet_under_the_size_limit_is_refused_too(tmp_path: Path) -> None:
    bomb = write_zip_bomb(tmp_path / "bomb.xlsx", 200 * MIB)

    with pytest.raises(Invalid) as refused:
        read(bomb)

    assert "max_compression_ratio" in str(refused.value)
    assert "xl/worksheets/sheet1.xml" in str(refused.value)


def test_the_limits_are_options(tmp_path: Path) -> None:
    bomb = write_zip_bomb(tmp_path / "bomb.xlsx", 40 * MIB)

    with pytest.raises(Invalid, match="max_unpacked_size"):
        read(bomb, max_unpacked_size=32 * MIB)
    with pytest.raises(Invalid, match="max_compression_ratio"):
        read(bomb)  # 40 MiB of spaces pack 1000:1
    assert read(bomb, max_compression_ratio=5000) == []  # a header, no rows


def test_a_large_sheet_streams_in_little_memory(
    big_sheet: Path, tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    """BIG_ROWS rows (300,000 by default) read in a process of its own: its peak RSS
    grows by less than 50 MiB. (tracemalloc slows openpyxl's parsing sixfold, so the
    memory is measured as the process's peak RSS instead.)"""
    small = write_xlsx(tmp_path / "small.xlsx", [HEADER, *EXCEL_ROWS])

    measured = measure_reading(big_sheet, small)

    record_property("big_sheet", measured)
    print(f"\n{BIG_ROWS} rows: {measured}")
    assert measured["records"] == BIG_ROWS
    assert measured["problems"] == 0
    last = f"CI-{BIG_ROWS - 1:07d}"
    assert measured["last"] == [
        last,
        {"barcode": last, "name": "Ethanol absolute", "location": "Shelf 3"},
        BIG_ROWS + 1,
    ]
    assert measured["rss_growth_kib"] < 50 * 1024, measured


def test_csv_in_another_encoding_is_refused_naming_the_option(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "export.csv",
        [
            ["Barcode", "Container Name", "Supplier"],
            ["CI-1", "Natriumchlorid", "Fluka Chemie"],
            ["CI-2", "Äthanol", "Merck Darmstadt"],
        ],
        encoding="cp1252",
    )
    at = path.read_bytes().index(b"\xc4")

    with pytest.raises(Invalid) as refused:
        read(path)

    assert str(refused.value) == (
        f"the file is not valid UTF-8 text (byte 0xc4 at position {at}); "
        'set the importer\'s encoding option, e.g. "cp1252"'
    )
    (first, second) = records(path, encoding="cp1252")
    assert first.fields["name"] == "Natriumchlorid"
    assert second.fields["name"] == "Äthanol"


def test_the_position_of_a_bad_byte_counts_the_bom_and_earlier_chunks(tmp_path: Path) -> None:
    rows = [["Barcode", "Container Name"]] + [[f"CI-{n}", "Wasser"] for n in range(20_000)]
    path = write_csv(tmp_path / "export.csv", [*rows, ["CI-x", "Säure"]], bom=True)
    data = path.read_bytes().replace("Säure".encode(), "Säure".encode("cp1252"))
    path.write_bytes(data)

    with pytest.raises(Invalid) as refused:
        read(path)

    at = data.index(b"\xe4")
    assert f"(byte 0xe4 at position {at})" in str(refused.value)


def test_a_csv_without_line_breaks_is_refused_not_held(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    with path.open("wb") as out:
        out.write(b"Barcode,Name,")
        for _ in range(20):
            out.write(b"x" * MIB)

    with pytest.raises(Invalid, match="longer than"):
        read(path)
