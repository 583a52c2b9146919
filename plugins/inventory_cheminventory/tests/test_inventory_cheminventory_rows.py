"""Rows: the header found, blank rows skipped, rows without a barcode reported with their
row number (duplicates are the engine's to report), a missing Barcode column refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from inventory_cheminventory_files import Rows, read, write_csv, write_xlsx
from labvault.plugin import Invalid, InventoryRecord, RowProblem

Writer = Callable[[Path, Rows], Path]
FORMATS: list[tuple[str, Writer]] = [
    (".xlsx", lambda path, rows: write_xlsx(path, rows)),
    (".csv", lambda path, rows: write_csv(path, rows)),
]


@pytest.fixture(params=FORMATS, ids=[extension for extension, _ in FORMATS])
def export(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[Rows], Path]:
    """Factory: rows -> an export file of the format the test runs with."""
    extension, write = request.param

    def make(rows: Rows) -> Path:
        return write(tmp_path / f"export{extension}", rows)

    return make


def summary(found: list[InventoryRecord | RowProblem]) -> list[Any]:
    return [
        (f.row, f.external_id) if isinstance(f, InventoryRecord) else (f.row, f.column, f.reason)
        for f in found
    ]


def test_a_row_without_a_barcode_is_a_row_problem(export: Callable[[Rows], Path]) -> None:
    path = export([["Barcode", "Container Name"], ["CI-1", "a"], [None, "b"], ["  ", "c"]])

    assert summary(read(path)) == [
        (2, "CI-1"),
        (3, "Barcode", "no barcode: the row cannot be matched on a later import"),
        (4, "Barcode", "no barcode: the row cannot be matched on a later import"),
    ]


def test_blank_rows_are_skipped_and_rows_keep_their_numbers(
    export: Callable[[Rows], Path],
) -> None:
    path = export(
        [
            [None, None],
            ["", "  "],
            ["Barcode", "Container Name"],
            ["CI-1", "a"],
            [None, None],
            ["", ""],
            ["CI-2", "b"],
            [None, None],
        ]
    )

    assert summary(read(path)) == [(4, "CI-1"), (7, "CI-2")]


def test_a_duplicate_barcode_is_read_as_it_is_for_the_engine_to_report(
    export: Callable[[Rows], Path],
) -> None:
    path = export(
        [["Barcode", "Container Name"], ["CI-1", "a"], ["CI-2", "b"], ["CI-1", "c"], ["CI-1", "d"]]
    )

    # the importer holds no table of barcodes: labvault's engine rejects rows 4 and 5
    assert summary(read(path)) == [(2, "CI-1"), (3, "CI-2"), (4, "CI-1"), (5, "CI-1")]


def test_barcodes_are_compared_as_written_after_trimming(export: Callable[[Rows], Path]) -> None:
    path = export([["Barcode"], ["CI-1"], [" CI-1 "], ["ci-1"]])

    assert summary(read(path)) == [(2, "CI-1"), (3, "CI-1"), (4, "ci-1")]


def test_the_barcode_column_is_named_as_the_file_writes_it(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "export.xlsx", [["BAR CODE", "Name"], [None, "x"]])

    assert summary(read(path)) == [
        (2, "BAR CODE", "no barcode: the row cannot be matched on a later import")
    ]


def test_a_numeric_barcode_is_its_digits(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "export.xlsx", [["Barcode"], [100234], [100234.0]])

    assert summary(read(path)) == [(2, "100234"), (3, "100234")]  # 100234.0 is no other


def test_a_barcode_too_long_is_a_row_problem(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "export.csv", [["Barcode"], ["B" * 101]])

    assert summary(read(path)) == [(2, "Barcode", "Barcode is longer than 100 characters")]


def test_a_missing_barcode_column_is_refused_naming_the_columns(
    export: Callable[[Rows], Path],
) -> None:
    path = export([[None], ["Container Name", "Container Size", "Bar-code"], ["x", 1, "CI-1"]])

    with pytest.raises(Invalid) as refused:
        read(path)

    assert str(refused.value) == (
        "the export has no Barcode column; its columns are: Container Name, Container Size, "
        "Bar-code"
    )


def test_an_empty_file_is_refused(export: Callable[[Rows], Path]) -> None:
    with pytest.raises(Invalid, match="the export is empty: it has no header row"):
        read(export([]))


def test_a_header_alone_yields_nothing(export: Callable[[Rows], Path]) -> None:
    assert read(export([["Barcode", "Container Name"]])) == []


def test_a_quoted_csv_field_may_span_lines(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(b'Barcode,Comments\r\nCI-1,"two\r\nlines"\r\nCI-2,"say ""hi"""\r\n')

    found = read(path)

    assert [(f.row, f.fields) for f in found if isinstance(f, InventoryRecord)] == [
        (2, {"barcode": "CI-1", "description": "two\r\nlines"}),
        (3, {"barcode": "CI-2", "description": 'say "hi"'}),
    ]


def test_an_excel_separator_line_names_the_delimiter(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(b"sep=;\r\nBarcode;Comments\r\nCI-1;a, b and c\r\n")

    found = read(path)

    assert [(f.row, f.fields) for f in found if isinstance(f, InventoryRecord)] == [
        (3, {"barcode": "CI-1", "description": "a, b and c"})
    ]


def test_a_stream_that_cannot_seek_is_read_from_a_copy(tmp_path: Path) -> None:
    import io

    from inventory_cheminventory_files import importer

    data = write_xlsx(tmp_path / "export.xlsx", [["Barcode"], ["CI-1"]]).read_bytes()

    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self.data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            chunk = self.data.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    found = list(importer().read(Pipe(), "export.xlsx"))  # type: ignore[arg-type]

    assert summary(found) == [(2, "CI-1")]
