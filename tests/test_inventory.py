"""Inventory imports: the core's engine upserting an importer's records as starting
materials, through the API, on SQLite, MariaDB and PostgreSQL.

A small CSV importer (a real plugin distribution) stands in for ChemInventory, whose own
plugin tests its file formats: columns Barcode, Name, Supplier, CAS, Location and any
other column as an attribute; a row "FAIL" makes it raise, as a file that turns out
unreadable halfway does.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
import sqlalchemy as sa
from labvault.inventory.models import InventoryImport, InventoryLink
from labvault.items.models import Item, ItemVersion
from labvault.testing import list_plan
from labvault.web.session import get_session

from tests.records import assert_error

SHEET = """
    import csv
    import io

    from labvault.plugin import Invalid, InventoryImporter, InventoryRecord, RowProblem, hookimpl

    FIELDS = {"Name": "name", "Supplier": "supplier", "CAS": "cas", "Location": "location"}

    class Sheet(InventoryImporter):
        name = "sheet"
        description = "CSV exports"
        accepted_file_extensions = (".csv",)

        def read(self, stream, filename):
            rows = csv.DictReader(io.TextIOWrapper(stream, encoding="utf-8"))
            for row, line in enumerate(rows, start=2):
                if line["Barcode"] == "FAIL":
                    raise Invalid(f"row {row} cannot be read")
                if not line["Barcode"]:
                    yield RowProblem(row, "Barcode", "no barcode")
                    continue
                fields = {FIELDS[k]: v for k, v in line.items() if k in FIELDS and v}
                fields["barcode"] = line["Barcode"]
                others = {k: v for k, v in line.items() if k not in FIELDS and k != "Barcode" and v}
                warnings = ("odd supplier",) if line.get("Supplier") == "?" else ()
                yield InventoryRecord(line["Barcode"], fields, others, row, warnings)

    @hookimpl
    def labvault_inventory_importer_types():
        return [Sheet]
"""
HEADER = "Barcode,Name,Supplier,CAS,Location,Shelf life"
EXPORT = [
    "CH-001,acetone,Sigma,67-64-1,cabinet A,2 years",
    "CH-002,ethanol,Merck,64-17-5,cabinet B,",
    "CH-003,toluene,Sigma,108-88-3,cabinet A,",
]


def csv_file(*rows: str) -> bytes:
    return "\n".join([HEADER, *rows]).encode() + b"\n"


@pytest.fixture
def lab(dists, labvault_make_app, labvault_make_user):
    dists.add("sheet", SHEET)
    app = labvault_make_app(PLUGINS=["sheet"], INVENTORY_IMPORTERS={"stores": {"type": "sheet"}})
    return app, app.test_client(), labvault_make_user(app, role="manager")


def run(lab: Any, content: bytes, **form: Any) -> Any:
    _, client, manager = lab
    data = {"importer": "stores", "file": (io.BytesIO(content), "export.csv"), **form}
    return client.post(
        "/inventory/imports", data=data, content_type="multipart/form-data", headers=manager.headers
    )


def counts(response: Any) -> dict[str, int]:
    assert response.status_code in (200, 201), response.get_data(as_text=True)
    result: dict[str, int] = response.json["counts"]
    return result


def materials(lab: Any) -> dict[str, dict[str, Any]]:
    """Barcode -> the item, as GET /items/<refcode> shows it."""
    _, client, manager = lab
    listed = client.get("/items?type=starting_material&page_size=100", headers=manager.headers)
    found = [
        client.get(f"/items/{item['refcode']}", headers=manager.headers).json
        for item in listed.json
    ]
    return {item["barcode"]: item for item in found}


def written(lab: Any) -> dict[str, int]:
    """How many rows each table the engine writes has."""
    app = lab[0]
    with app.app_context():
        session = get_session()
        return {
            table.__name__: session.scalar(sa.select(sa.func.count()).select_from(table))
            for table in (Item, ItemVersion, InventoryLink, InventoryImport)
        }


def test_a_first_import_creates_starting_materials_and_reports_rejected_rows(lab):
    response = run(lab, csv_file(*EXPORT, ",nameless,Sigma,,,"))

    assert response.status_code == 201
    assert counts(response) == {
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "missing": 0,
        "rejected": 1,
    }
    assert response.json["rejected"] == [{"row": 5, "column": "Barcode", "reason": "no barcode"}]
    acetone = materials(lab)["CH-001"]
    assert acetone["type"] == "starting_material" and acetone["name"] == "acetone"
    assert acetone["supplier"] == "Sigma" and acetone["cas"] == "67-64-1"
    assert acetone["attributes"] == {"Shelf life": "2 years"}
    assert acetone["status"] == "available"


def test_barcode_and_cas_find_items(lab):
    _, client, manager = lab
    assert run(lab, csv_file(*EXPORT)).status_code == 201

    by_barcode = client.get("/items?barcode=CH-002", headers=manager.headers).json
    by_cas = client.get("/items?cas=108-88-3", headers=manager.headers).json

    assert [item["name"] for item in by_barcode] == ["ethanol"]
    assert [item["name"] for item in by_cas] == ["toluene"]
    assert client.get("/items?barcode=CH-999", headers=manager.headers).json == []


def test_an_unchanged_reimport_writes_nothing_not_even_a_version(lab):
    run(lab, csv_file(*EXPORT))
    before, items_before = written(lab), materials(lab)

    again = run(lab, csv_file(*EXPORT))

    assert counts(again) == {
        "created": 0,
        "updated": 0,
        "unchanged": 3,
        "missing": 0,
        "rejected": 0,
    }
    after = written(lab)
    assert after == {**before, "InventoryImport": before["InventoryImport"] + 1}
    assert materials(lab) == items_before


def test_a_reimport_with_edits_changes_only_those_fields_and_keeps_refcodes(lab):
    _, client, manager = lab
    run(lab, csv_file(*EXPORT))
    first = materials(lab)
    edited = [EXPORT[0].replace("cabinet A", "fridge 2"), EXPORT[1], EXPORT[2]]

    response = run(lab, csv_file(*edited))

    assert counts(response)["updated"] == 1 and counts(response)["unchanged"] == 2
    now = materials(lab)
    assert {code: item["refcode"] for code, item in now.items()} == {
        code: item["refcode"] for code, item in first.items()
    }
    acetone = now["CH-001"]
    assert acetone["location"] == "fridge 2"
    kept = {"location", "version", "updated_at"}  # what an edit changes
    assert {k: v for k, v in acetone.items() if k not in kept} == {
        k: v for k, v in first["CH-001"].items() if k not in kept
    }
    versions = client.get(f"/items/{acetone['refcode']}/versions", headers=manager.headers).json
    assert [v["action"] for v in versions] == ["import", "create"]
    assert versions[0]["user"]["id"] == manager.id
    ethanol = now["CH-002"]["refcode"]
    assert len(client.get(f"/items/{ethanol}/versions", headers=manager.headers).json) == 1


def test_rows_removed_are_reported_and_may_be_marked(lab):
    run(lab, csv_file(*EXPORT))
    toluene = materials(lab)["CH-003"]["refcode"]

    reported = run(lab, csv_file(*EXPORT[:2]))
    assert counts(reported)["missing"] == 1 and reported.json["missing"] == [toluene]
    assert materials(lab)["CH-003"]["status"] == "available"  # reported, never deleted

    marked = run(lab, csv_file(*EXPORT[:2]), mark_missing="disposed")
    assert counts(marked)["missing"] == 1
    assert materials(lab)["CH-003"]["status"] == "disposed"
    refused = run(lab, csv_file(*EXPORT[:2]), mark_missing="gone")
    assert_error(refused, 422, "mark_missing")


def test_reordered_and_renamed_columns_reach_the_same_items(lab):
    run(lab, csv_file(*EXPORT))
    reordered = b"Location,Barcode,Name,CAS,Supplier,Shelf life\n" + (
        b"cabinet A,CH-001,acetone,67-64-1,Sigma,2 years\n"
    )

    response = run(lab, reordered)

    assert counts(response)["unchanged"] == 1 and counts(response)["missing"] == 2


def test_a_dry_run_reports_exactly_what_the_real_run_does_and_writes_nothing(lab):
    run(lab, csv_file(*EXPORT))
    before = written(lab)
    changes = csv_file(
        EXPORT[0].replace("Sigma", "Fluka"), EXPORT[1], "CH-004,hexane,?,110-54-3,B,", ",x,,,,"
    )

    dry = run(lab, changes, dry_run="true", mark_missing="disposed")
    assert written(lab) == before
    real = run(lab, changes, mark_missing="disposed")

    assert dry.status_code == 200 and real.status_code == 201
    assert {**dry.json, "dry_run": False} == real.json
    assert counts(real) == {"created": 1, "updated": 1, "unchanged": 1, "missing": 1, "rejected": 1}
    assert real.json["warnings"] == [{"row": 4, "warning": "odd supplier"}]


def test_a_failing_import_writes_nothing(lab):
    run(lab, csv_file(*EXPORT))
    before, items_before = written(lab), materials(lab)
    failing = csv_file(EXPORT[0].replace("cabinet A", "moved"), "CH-005,new,,,,", "FAIL,,,,,")

    response = run(lab, failing)

    assert_error(response, 422)
    assert "row 4 cannot be read" in response.json["message"]
    assert written(lab) == before and materials(lab) == items_before


def test_an_export_over_the_row_limit_is_refused_whole(
    dists, labvault_make_app, labvault_make_user
):
    dists.add("sheet", SHEET)
    app = labvault_make_app(
        PLUGINS=["sheet"], INVENTORY_IMPORTERS={"stores": {"type": "sheet"}}, INVENTORY_MAX_ROWS=2
    )
    lab = (app, app.test_client(), labvault_make_user(app, role="manager"))

    refused = assert_error(run(lab, csv_file(*EXPORT)), 422, "file", location="files")

    assert "more than 2 rows" in refused["message"] and "INVENTORY_MAX_ROWS" in refused["message"]
    assert written(lab) == {"Item": 0, "ItemVersion": 0, "InventoryLink": 0, "InventoryImport": 0}
    assert counts(run(lab, csv_file(*EXPORT[:2])))["created"] == 2


def test_bad_rows_name_their_column_and_a_bad_file_name_is_refused(lab):
    bad_cas = run(lab, csv_file("CH-009,odd,Sigma,64-17-6,A,"))
    assert counts(bad_cas)["rejected"] == 1
    (problem,) = bad_cas.json["rejected"]
    assert (problem["row"], problem["column"]) == (2, "cas")
    duplicate = run(lab, csv_file(EXPORT[0], EXPORT[0]))
    assert duplicate.json["rejected"] == [
        {"row": 3, "column": None, "reason": "CH-001 is on row 2"}
    ]
    _, client, manager = lab
    wrong = client.post(
        "/inventory/imports",
        data={"importer": "stores", "file": (io.BytesIO(b"x"), "export.xlsx")},
        content_type="multipart/form-data",
        headers=manager.headers,
    )
    assert_error(wrong, 422, "file", location="files")
    unknown = run(lab, csv_file(*EXPORT), importer="nope")
    assert_error(unknown, 404)


def test_importers_and_imports_are_for_managers_with_who_ran_them(lab, labvault_make_user):
    app, client, manager = lab
    user = labvault_make_user(app)
    run(lab, csv_file(*EXPORT))

    importers = client.get("/inventory/importers", headers=manager.headers).json
    assert importers == [
        {
            "name": "stores",
            "type": "sheet",
            "description": "CSV exports",
            "accepted_file_extensions": [".csv"],
        }
    ]
    (listed,) = client.get("/inventory/imports", headers=manager.headers).json
    assert listed["importer"] == "stores" and listed["filename"] == "export.csv"
    assert listed["user"]["id"] == manager.id
    assert listed["report"]["counts"]["created"] == 3
    for path in ("/inventory/importers", "/inventory/imports"):
        assert_error(client.get(path, headers=user.headers), 403)
    denied = client.post(
        "/inventory/imports",
        data={"importer": "stores", "file": (io.BytesIO(csv_file(*EXPORT)), "export.csv")},
        content_type="multipart/form-data",
        headers=user.headers,
    )
    assert_error(denied, 403)


@pytest.mark.parametrize("column", ["barcode", "cas"])
def test_barcode_and_cas_lookups_use_an_index(shared_app, labvault_make_user, column):
    """The plan of the page GET /items?barcode= and ?cas= read reads the index of the
    starting material's filterable fields (PostgreSQL is told not to prefer a scan of a
    table this small). With so few values, PostgreSQL may instead look up each starting
    material's value in the index a list walking items reads (name, item_id): it costs
    the same to it."""
    plan = list_plan(shared_app, labvault_make_user(shared_app), {column: "64-17-5"})
    assert "ix_item_field_values_name_text_value_item_id" in plan or (
        "ix_item_field_values_name_item_id_number_value" in plan and "Index Scan" in plan
    ), plan
