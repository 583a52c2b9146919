"""A ChemInventory export's columns become starting-material fields or attributes, the
same from its Excel and its CSV export, whatever the headers' case, spacing and order."""

from __future__ import annotations

from pathlib import Path

import pytest
from inventory_cheminventory_files import (
    EXCEL_ROWS,
    HEADER,
    one,
    read,
    records,
    write_csv,
    write_xlsx,
)
from labvault.plugin import InventoryRecord
from labvault_inventory_cheminventory import CheminventoryImporter

EXPECTED = [
    InventoryRecord(
        "CI-000101",
        {
            "name": "Ethanol absolute",
            "barcode": "CI-000101",
            "location": "Lab 2.14 > Flammables cabinet",
            "container_size": 2.5,
            "container_unit": "L",
            "cas": "64-17-5",
            "supplier": "Sigma-Aldrich",
            "date_acquired": "2024-03-01",
            "date_opened": "2024-04-15",
            "chemical_purity": "≥99.8 %",
            "full_percent": 80.0,
            "ghs_hazard_codes": ["H225", "H319"],
            "molar_mass": 46.07,
            "chemical_formula": "C2H6O",
            "smiles": "CCO",
            "description": "for HPLC",
        },
        {"Owner": "Marie Curie", "Price": "42.5", "Catalog #": "32205-2.5L"},
        2,
    ),
    InventoryRecord(
        "CI-000102",
        {
            "name": "Acetone",
            "barcode": "CI-000102",
            "location": "Lab 2.14 > Flammables cabinet",
            "container_size": 500.0,
            "container_unit": "mL",
            "cas": "67-64-1",
            "supplier": "VWR",
            "date_acquired": "2023-11-20",
            "chemical_purity": "99.5%",
            "full_percent": 35.5,
            "ghs_hazard_codes": ["H225", "H319", "H336", "EUH066"],
            "molar_mass": 58.08,
            "chemical_formula": "C3H6O",
            "smiles": "CC(C)=O",
        },
        {"Owner": "Pierre Curie", "Catalog #": "20066.330"},
        3,
    ),
    InventoryRecord(
        "CI-000103",
        {
            "name": "Sodium chloride",
            "barcode": "CI-000103",
            "location": "Lab 2.15 > Shelf B",
            "container_size": 1.0,
            "container_unit": "kg",
            "cas": "7647-14-5",
            "supplier": "Carl Roth",
            "date_acquired": "2022-01-10",
            "date_opened": "2022-02-01",
            "chemical_purity": "≥99.5 %, p.a.",
            "full_percent": 100.0,
            "molar_mass": 58.44,
            "chemical_formula": "NaCl",
            "smiles": "[Na+].[Cl-]",
            "description": "Dry before use.\nKeep closed.",
        },
        {"Price": "12", "Catalog #": "3957.1"},
        4,
    ),
]


def test_the_type_reads_xlsx_and_csv() -> None:
    assert CheminventoryImporter.name == "cheminventory"
    assert CheminventoryImporter.accepted_file_extensions == (".xlsx", ".csv")


def test_an_excel_export_maps_every_column(tmp_path: Path) -> None:
    assert records(write_xlsx(tmp_path / "export.xlsx", [HEADER, *EXCEL_ROWS])) == EXPECTED


@pytest.mark.parametrize(
    ("delimiter", "bom"), [(",", False), (",", True), (";", True), ("\t", False)]
)
def test_a_csv_export_gives_the_same_records(tmp_path: Path, delimiter: str, bom: bool) -> None:
    path = write_csv(tmp_path / "export.csv", [HEADER, *EXCEL_ROWS], delimiter=delimiter, bom=bom)

    assert records(path) == EXPECTED


def test_the_file_name_decides_the_format_whatever_its_case(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "EXPORT.XLSX", [HEADER, *EXCEL_ROWS])

    assert records(path) == EXPECTED


def test_other_files_are_refused(tmp_path: Path) -> None:
    from labvault.plugin import Invalid

    path = tmp_path / "export.ods"
    path.write_bytes(b"whatever")

    with pytest.raises(Invalid, match=r"read from \.xlsx or \.csv files, not \.ods"):
        read(path)


def test_headers_match_whatever_their_case_spacing_and_order(tmp_path: Path) -> None:
    header = [" smiles", "MOLECULAR  WEIGHT", "bar code", "DATEOPENED", "containersize ", "UNIT"]
    row = ["CCO", "46.07 g/mol", "CI-7", "2024-03-01", "2,5", "L"]

    found = one(header, row, tmp_path)

    assert found == InventoryRecord(
        "CI-7",
        {
            "smiles": "CCO",
            "molar_mass": 46.07,
            "barcode": "CI-7",
            "date_opened": "2024-03-01",
            "container_size": 2.5,
            "container_unit": "L",
        },
        {},
        2,
    )


def test_other_columns_are_kept_as_attributes_by_their_header(tmp_path: Path) -> None:
    header = ["Barcode", "Owner", "  Price (EUR) ", "Hazard class", "", "Barcode", "Notes"]
    row = ["CI-1", "Ada", 12.0, "3", "no header", "CI-1-old", None]

    found = one(header, row, tmp_path)

    assert found.fields == {"barcode": "CI-1"}
    assert found.attributes == {
        "Owner": "Ada",
        "Price (EUR)": "12",  # a number cell, as text
        "Hazard class": "3",
        "column 5": "no header",
        "Barcode": "CI-1-old",  # a second column of one field is an attribute
    }  # a blank cell ("Notes") is left out


def test_cells_past_the_last_header_are_kept(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "export.csv", [["Barcode", "Name"], ["CI-1", "x", "stray"]])

    (found,) = records(path)

    assert found.attributes == {"Name": "x", "column 3": "stray"}


def test_the_unit_in_the_size_cell_is_used_when_the_unit_column_is_empty(
    tmp_path: Path,
) -> None:
    path = write_xlsx(
        tmp_path / "export.xlsx",
        [
            ["Barcode", "Container Size", "Unit"],
            ["CI-1", "500 mL", None],
            ["CI-2", "500 mL", "g"],  # the Unit column wins
            ["CI-3", "2,5L", None],
            ["CI-4", 25, None],
        ],
    )

    sizes = [(r.fields["container_size"], r.fields.get("container_unit")) for r in records(path)]

    assert sizes == [(500.0, "mL"), (500.0, "g"), (2.5, "L"), (25.0, None)]


def test_a_unit_too_long_for_the_field_is_left_out_with_a_warning(tmp_path: Path) -> None:
    found = one(["Barcode", "Container Size"], ["CI-1", "5 bottles of the large kind"], tmp_path)

    assert found.fields == {"barcode": "CI-1", "container_size": 5.0}
    assert found.warnings == (
        "row 2: the unit after the container size, 'bottles of the large kind', is longer "
        "than 20 characters; left out",
    )


def test_text_too_long_for_its_field_is_kept_as_an_attribute(tmp_path: Path) -> None:
    purity = "x" * 101

    found = one(["Barcode", "Chemical purity"], ["CI-1", purity], tmp_path)

    assert found.fields == {"barcode": "CI-1"}
    assert found.attributes == {"Chemical purity": purity}
    assert found.warnings == (
        "row 2: Chemical purity is longer than 100 characters; kept as an attribute",
    )


def test_a_sheet_can_be_chosen(tmp_path: Path) -> None:
    from labvault.plugin import Invalid

    path = write_xlsx(
        tmp_path / "export.xlsx", [["Name"], ["x"]], title="Summary", other_sheets=["Containers"]
    )

    assert read(path, sheet="Containers") == []  # its header alone
    assert read(path, sheet="containers") == []
    with pytest.raises(Invalid, match="no Barcode column; its columns are: Name"):
        read(path)  # the active sheet
    with pytest.raises(Invalid, match=r"no sheet 'Stock'.*sheets are: Summary, Containers"):
        read(path, sheet="Stock")
