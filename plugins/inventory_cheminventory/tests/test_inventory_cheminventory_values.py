"""Cells read into fields: dates in every form an export has them, numbers with units
and decimal commas, CAS numbers (a bad check digit stays an attribute), GHS codes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from inventory_cheminventory_files import one, records, write_csv, write_xlsx
from labvault_inventory_cheminventory.values import (
    Unreadable,
    cas_number,
    excel_serial_date,
    iso_date,
    number_and_rest,
)


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (dt.datetime(2024, 3, 1), "2024-03-01"),  # a date cell
        (dt.datetime(2024, 3, 1, 23, 59), "2024-03-01"),
        (45352, "2024-03-01"),  # a plain number cell: an Excel serial
        (45352.75, "2024-03-01"),  # and the time of day
        ("2024-03-01", "2024-03-01"),
        ("2024-3-1", "2024-03-01"),
        ("2024/03/01", "2024-03-01"),
        ("01.03.2024", "2024-03-01"),
        ("1.3.2024", "2024-03-01"),
        ("3/1/2024", "2024-03-01"),  # month first
        ("12/31/2023", "2023-12-31"),
        ("2024-03-01 10:00", "2024-03-01"),
        ("2024-03-01T10:00:00", "2024-03-01"),
        ("3/1/2024 4:30 PM", "2024-03-01"),
        (" 2024-03-01 ", "2024-03-01"),
        ("45352", "2024-03-01"),  # a serial in text
    ],
)
def test_dates(tmp_path: Path, cell: Any, expected: str) -> None:
    found = one(["Barcode", "Date Acquired"], ["CI-1", cell], tmp_path)

    assert found.fields == {"barcode": "CI-1", "date_acquired": expected}
    assert found.warnings == ()


def test_dates_in_a_csv(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "export.csv",
        [["Barcode", "Date Acquired", "Date opened"], ["CI-1", "01.03.2024", "3/15/2024 08:00"]],
    )

    (found,) = records(path)

    assert found.fields["date_acquired"] == "2024-03-01"
    assert found.fields["date_opened"] == "2024-03-15"


@pytest.mark.parametrize(
    ("serial", "expected"),
    [
        (1, dt.date(1900, 1, 1)),
        (59, dt.date(1900, 2, 28)),
        (61, dt.date(1900, 3, 1)),
        (36526, dt.date(2000, 1, 1)),
        (2958465, dt.date(9999, 12, 31)),
    ],
)
def test_excel_serials_count_from_1900_with_its_leap_day_bug(
    serial: int, expected: dt.date
) -> None:
    assert excel_serial_date(serial, "Date") == expected


def test_the_1904_date_system() -> None:
    assert excel_serial_date(0, "Date", epoch_1904=True) == dt.date(1904, 1, 1)
    assert excel_serial_date(43890, "Date", epoch_1904=True) == dt.date(2024, 3, 1)


@pytest.mark.parametrize("serial", [0, 60, -5, 3_000_000])
def test_serials_that_are_no_day(serial: int) -> None:
    with pytest.raises(Unreadable):
        excel_serial_date(serial, "Date")


@pytest.mark.parametrize(
    ("cell", "why"),
    [
        ("sometime in spring", "'sometime in spring' is not a date"),
        ("31.02.2024", "'31.02.2024' is not a date"),
        ("2024-13-01", "'2024-13-01' is not a date"),
        (60, "60 is 29 February 1900, a day that never was"),
        (dt.time(10, 30), "'10:30:00' is not a date"),
    ],
)
def test_an_unreadable_date_is_kept_as_an_attribute_with_a_warning(
    tmp_path: Path, cell: Any, why: str
) -> None:
    found = one(["Barcode", "Name", "Date opened"], ["CI-1", "Ethanol", cell], tmp_path)

    assert found.fields == {"barcode": "CI-1"}  # the row is imported without the date
    assert found.attributes["Name"] == "Ethanol"
    assert "Date opened" in found.attributes
    assert found.warnings == (f"row 2: Date opened {why}; kept as an attribute",)


@pytest.mark.parametrize(
    ("header", "cell", "field", "expected"),
    [
        ("Container Size", "500 mL", "container_size", 500.0),
        ("Container Size", "1,5", "container_size", 1.5),
        ("Container Size", "1,5 kg", "container_size", 1.5),
        ("Container Size", "0.5L", "container_size", 0.5),
        ("Container Size", "1.000,5 g", "container_size", 1000.5),
        ("Container Size", "1,000.5 g", "container_size", 1000.5),
        ("Container Size", 0, "container_size", 0.0),
        ("Full %", "99.5 %", "full_percent", 99.5),
        ("Full %", "99,5%", "full_percent", 99.5),
        ("Full %", 100, "full_percent", 100.0),
        ("Full %", "0", "full_percent", 0.0),
        ("Molecular Weight", "58.08 g/mol", "molar_mass", 58.08),
        ("Molecular Weight", "58,08", "molar_mass", 58.08),
        ("Molecular Weight", 1.2e3, "molar_mass", 1200.0),
        ("Molecular Weight", "1.2e3", "molar_mass", 1200.0),
    ],
)
def test_numbers_with_units_and_decimal_commas(
    tmp_path: Path, header: str, cell: Any, field: str, expected: float
) -> None:
    found = one(["Barcode", header], ["CI-1", cell], tmp_path)

    assert found.fields[field] == expected
    assert found.warnings == ()


@pytest.mark.parametrize(
    ("header", "cell", "warning"),
    [
        ("Full %", "about half", "Full % 'about half' is not a number"),
        ("Full %", 120, "Full % 120 is not between 0 and 100"),
        ("Full %", "-5 %", "Full % -5 is not between 0 and 100"),
        ("Molecular Weight", "0 g/mol", "Molecular Weight 0 is not more than 0"),
        ("Container Size", "-1 L", "Container Size -1 is not at least 0"),
        ("Container Size", "n/a", "Container Size 'n/a' is not a number"),
    ],
)
def test_a_number_that_cannot_be_its_field_is_kept_as_an_attribute(
    tmp_path: Path, header: str, cell: Any, warning: str
) -> None:
    found = one(["Barcode", header], ["CI-1", cell], tmp_path)

    assert found.fields == {"barcode": "CI-1"}
    assert found.attributes == {header: str(cell)}
    assert found.warnings == (f"row 2: {warning}; kept as an attribute",)


def test_blank_numbers_are_left_out(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "export.csv",
        [["Barcode", "Container Size", "Full %", "Molecular Weight"], ["CI-1", "", " ", ""]],
    )

    (found,) = records(path)

    assert found.fields == {"barcode": "CI-1"}
    assert found.attributes == {}


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("64-17-5", "64-17-5"),
        (" 7732-18-5 ", "7732-18-5"),
        ("7732 - 18 - 5", "7732-18-5"),
        ("7732185", "7732-18-5"),  # digits alone get their hyphens
        (7732185, "7732-18-5"),  # a number cell
        ("50-00-0", "50-00-0"),
    ],
)
def test_valid_cas_numbers_become_the_field(tmp_path: Path, cell: Any, expected: str) -> None:
    found = one(["Barcode", "Substance CAS"], ["CI-1", cell], tmp_path)

    assert found.fields == {"barcode": "CI-1", "cas": expected}
    assert found.warnings == ()


def test_a_cas_number_with_a_bad_check_digit_stays_an_attribute(tmp_path: Path) -> None:
    found = one(["Barcode", "Name", "Substance CAS"], ["CI-1", "Ethanol", "64-17-6"], tmp_path)

    assert found.fields == {"barcode": "CI-1"}
    assert found.attributes == {"Name": "Ethanol", "Substance CAS": "64-17-6"}
    assert found.warnings == ("row 2: CAS 64-17-6 has a bad check digit; kept as an attribute",)


def test_what_is_no_cas_number_stays_an_attribute(tmp_path: Path) -> None:
    found = one(["Barcode", "substance cas"], ["CI-1", "mixture"], tmp_path)

    assert "cas" not in found.fields
    assert found.attributes == {"substance cas": "mixture"}
    assert found.warnings == (
        "row 2: CAS mixture is not a CAS number (like 64-17-5); kept as an attribute",
    )


@pytest.mark.parametrize(
    ("cell", "codes"),
    [
        ("H225", ["H225"]),
        ("H225, H319", ["H225", "H319"]),
        ("H225;H319 ; EUH066", ["H225", "H319", "EUH066"]),
        ("H225 H319\nH336", ["H225", "H319", "H336"]),
        ("H300+H310+H330", ["H300", "H310", "H330"]),
        ("H360FD, H361fd", ["H360FD", "H361fd"]),
        ("h225, euh066", ["H225", "EUH066"]),
        ("H225, H225", ["H225"]),
    ],
)
def test_ghs_codes(tmp_path: Path, cell: str, codes: list[str]) -> None:
    found = one(["Barcode", "GHS H-codes"], ["CI-1", cell], tmp_path)

    assert found.fields == {"barcode": "CI-1", "ghs_hazard_codes": codes}
    assert found.warnings == ()
    assert found.attributes == {}


def test_words_that_are_no_ghs_code_are_a_warning(tmp_path: Path) -> None:
    found = one(["Barcode", "GHS H-codes"], ["CI-1", "H225, Flam. Liq. 2, H319"], tmp_path)

    assert found.fields["ghs_hazard_codes"] == ["H225", "H319"]
    assert found.warnings == (
        "row 2: GHS H-codes 'Flam', 'Liq', '2' are not hazard codes; left out, and the cell "
        "kept as an attribute",
    )
    assert found.attributes == {"GHS H-codes": "H225, Flam. Liq. 2, H319"}


def test_a_ghs_cell_without_codes_sets_no_field(tmp_path: Path) -> None:
    found = one(["Barcode", "GHS H-codes"], ["CI-1", "none"], tmp_path)

    assert "ghs_hazard_codes" not in found.fields
    assert found.warnings == (
        "row 2: GHS H-codes 'none' is not a hazard code; left out, and the cell kept as an "
        "attribute",
    )


def test_excel_cells_of_every_type_become_attribute_text(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "export.xlsx",
        [
            ["Barcode", "Checked", "Count", "Ratio", "Inspected", "Time"],
            ["CI-1", True, 3, 0.25, dt.datetime(2024, 3, 1, 9, 30), dt.datetime(2024, 3, 1)],
        ],
    )

    (found,) = records(path)

    assert found.attributes == {
        "Checked": "TRUE",
        "Count": "3",
        "Ratio": "0.25",
        "Inspected": "2024-03-01T09:30:00",
        "Time": "2024-03-01",
    }


def test_values_read_are_remembered_by_value_and_type() -> None:
    """An export repeats its values: each is read once; but True is not 1, and a value
    that cannot be read is refused every time."""
    before = cas_number.cache_info()
    assert [cas_number("7732-18-5") for _ in range(3)] == ["7732-18-5"] * 3
    after = cas_number.cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 2)
    assert iso_date(1, "Date") == "1900-01-01"  # an Excel serial
    with pytest.raises(Unreadable, match="TRUE"):
        iso_date(True, "Date")
    for _ in range(2):
        with pytest.raises(Unreadable, match="check digit"):
            cas_number("7732-18-6")
    assert number_and_rest(1, "Size") == (1.0, "")
    with pytest.raises(Unreadable, match="TRUE"):
        number_and_rest(True, "Size")
