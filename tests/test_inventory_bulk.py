"""Inventory imports in bulk: the statements an import sends grow with its batches, not
its rows, and an item an import creates is the item POST /items makes of the same fields,
with the same first version. On SQLite, MariaDB and PostgreSQL, as tests/test_inventory.py.
"""

from __future__ import annotations

import datetime as dt
import gc
import random
from typing import Any

import marshmallow as ma
import pytest
import sqlalchemy as sa
from labvault.inventory.engine import Engine
from labvault.items.bulk import validate_input
from labvault.items.schemas import validate_item_input

from tests.records import create_item, statements
from tests.test_inventory import HEADER, SHEET, counts, run

#: The most statements an import of 1,000 new rows may send (two batches of 500).
MOST_FOR_1000 = 100


@pytest.fixture
def lab(dists, labvault_make_app, labvault_make_user):
    dists.add("sheet", SHEET)
    app = labvault_make_app(PLUGINS=["sheet"], INVENTORY_IMPORTERS={"stores": {"type": "sheet"}})
    return app, app.test_client(), labvault_make_user(app, role="manager")


def export(rows: int, *, moved: frozenset[int] = frozenset()) -> bytes:
    lines = [
        f"CH-{n:05d},solvent {n},Sigma,64-17-5,{'fridge' if n in moved else 'cabinet'},{n} days"
        for n in range(rows)
    ]
    return "\n".join([HEADER, *lines]).encode() + b"\n"


def test_the_statements_of_an_import_grow_with_its_batches_not_its_rows(lab):
    app = lab[0]
    with statements(app) as small:
        assert counts(run(lab, export(10)))["created"] == 10
    with statements(app) as large:
        assert counts(run(lab, export(1000)))["created"] == 990  # 10 known already
    assert len(large) < MOST_FOR_1000, "\n".join(large)
    # what one batch more costs, not what 990 rows more would
    assert len(large) - len(small) < 30, "\n".join(large)
    with statements(app) as unchanged:
        assert counts(run(lab, export(1000)))["unchanged"] == 1000
    assert len(unchanged) < MOST_FOR_1000 // 2, "\n".join(unchanged)


def test_an_edited_reimport_among_unchanged_rows_updates_only_the_edited(lab):
    _, client, manager = lab
    assert counts(run(lab, export(1200)))["created"] == 1200
    moved = frozenset({3, 700, 1199})
    assert counts(run(lab, export(1200, moved=moved))) == {
        "created": 0,
        "updated": 3,
        "unchanged": 1197,
        "missing": 0,
        "rejected": 0,
    }
    listed = client.get("/items?type=starting_material&q=fridge", headers=manager.headers).json
    found = [client.get(f"/items/{i['refcode']}", headers=manager.headers).json for i in listed]
    assert sorted(item["barcode"] for item in found) == ["CH-00003", "CH-00700", "CH-01199"]
    (item,) = [item for item in found if item["barcode"] == "CH-00700"]
    assert item["location"] == "fridge" and item["attributes"] == {"Shelf life": "700 days"}
    versions = client.get(f"/items/{item['refcode']}/versions", headers=manager.headers).json
    assert [(v["number"], v["action"]) for v in versions] == [(2, "import"), (1, "create")]


def test_rejected_rows_across_batches_are_counted_and_listed_in_row_order(lab):
    lines = export(1300).decode().splitlines()
    for n in range(1, 1301, 2):  # every other row: no barcode (the importer's problem)
        lines[n] = "," + lines[n].split(",", 1)[1]
    for n in range(2, 1301, 50):  # and some with a CAS number that is none (the core's)
        lines[n] = lines[n].replace("64-17-5", "64-17-6")
    response = run(lab, ("\n".join(lines) + "\n").encode())
    assert counts(response) == {
        "created": 624,
        "updated": 0,
        "unchanged": 0,
        "missing": 0,
        "rejected": 676,
    }
    listed = response.json["rejected"]
    assert [problem["row"] for problem in listed] == sorted(
        [n + 1 for n in range(1, 1301, 2)] + [n + 1 for n in range(2, 1301, 50)]
    )
    assert {problem["column"] for problem in listed} == {"Barcode", "cas"}


def test_an_imported_item_and_its_first_version_are_those_post_items_makes(lab):
    _, client, manager = lab
    line = "CH-001,acetone,Sigma,67-64-1,cabinet A,2 years"
    content = "\n".join([HEADER, line]).encode() + b"\n"
    assert counts(run(lab, content))["created"] == 1
    (imported,) = client.get("/items?type=starting_material", headers=manager.headers).json
    posted = client.post(
        "/items",
        json={
            "type": "starting_material",
            "name": "acetone",
            "supplier": "Sigma",
            "cas": "67-64-1",
            "location": "cabinet A",
            "barcode": "CH-001",
            "attributes": {"Shelf life": "2 years"},
        },
        headers=manager.headers,
    )
    assert posted.status_code == 201, posted.get_data(as_text=True)

    def shown(refcode: str) -> dict[str, Any]:
        item = client.get(f"/items/{refcode}", headers=manager.headers).json
        first = client.get(f"/items/{refcode}/versions/1", headers=manager.headers).json
        assert first["action"] == "create" and first["user"]["id"] == manager.id
        own = {"refcode", "item_id", "created_at", "updated_at"}
        return {
            "item": {k: v for k, v in item.items() if k not in own},
            "snapshot": {k: v for k, v in first["snapshot"].items() if k not in own},
        }

    assert shown(imported["refcode"]) == shown(posted.json["refcode"])
    found = client.get("/items?q=acetone", headers=manager.headers).json
    assert {item["refcode"] for item in found} == {imported["refcode"], posted.json["refcode"]}


def test_an_import_that_fails_in_its_second_batch_writes_nothing_of_the_first(lab):
    app = lab[0]
    content = export(700).replace(b"CH-00650,", b"FAIL,")
    response = run(lab, content)
    assert response.status_code == 422, response.get_data(as_text=True)
    with app.app_context():
        from labvault.web.session import get_session

        session = get_session()
        tables = ("items", "item_versions", "item_creators", "inventory_links")
        assert {t: session.scalar(sa.text(f"SELECT COUNT(*) FROM {t}")) for t in tables} == {
            t: 0 for t in tables
        }


def _sqlite_search_index(app: Any) -> dict[str, Any]:
    """Whether SQLite's per-row FTS5 trigger is there, and whether FTS5's index holds
    exactly the texts of the items (its integrity check against its content table)."""
    with app.extensions["labvault"].database.engine.begin() as connection:
        trigger = "SELECT name FROM sqlite_master WHERE name = 'items_fts_insert'"
        check = "INSERT INTO items_fts (items_fts, rank) VALUES ('integrity-check', 1)"
        try:
            connection.exec_driver_sql(check)
            intact = True
        except sa.exc.DatabaseError:
            intact = False
        return {"trigger": connection.exec_driver_sql(trigger).scalar(), "intact": intact}


def test_new_items_are_indexed_for_search_a_batch_at_a_time(lab):
    """SQLite: an import indexes its new items with one statement per batch, not FTS5's
    per-row trigger (a third of the cost), which is back once it is done; other
    databases index them as any insert. Search finds them either way."""
    app, client, manager = lab
    with statements(app) as sent:
        assert counts(run(lab, export(1200)))["created"] == 1200
    indexing = [s for s in sent if s.lstrip().startswith("INSERT INTO items_fts")]
    if app.extensions["labvault"].database.engine.dialect.name == "sqlite":
        assert len(indexing) == 3, "\n".join(indexing)  # batches of 500, 500, 200
        assert _sqlite_search_index(app) == {"trigger": "items_fts_insert", "intact": True}
    else:
        assert indexing == []
    found = client.get("/items?q=solvent 1199", headers=manager.headers).json
    assert [item["name"] for item in found] == ["solvent 1199"]
    assert len(client.get("/items?q=cabinet&page_size=100", headers=manager.headers).json) == 100
    # the per-row trigger indexes what is added afterwards
    create_item(client, manager, type="starting_material", name="isopropanol")
    found = client.get("/items?q=isopropanol", headers=manager.headers).json
    assert [item["name"] for item in found] == ["isopropanol"]


def test_an_import_that_fails_or_is_dry_leaves_the_search_index_as_it_was(lab):
    app, client, manager = lab
    sqlite = app.extensions["labvault"].database.engine.dialect.name == "sqlite"
    assert run(lab, export(700).replace(b"CH-00650,", b"FAIL,")).status_code == 422
    assert counts(run(lab, export(600), dry_run="true"))["created"] == 600
    if sqlite:
        assert _sqlite_search_index(app) == {"trigger": "items_fts_insert", "intact": True}
    create_item(client, manager, type="starting_material", name="solvent 9")
    found = client.get("/items?q=solvent", headers=manager.headers).json
    assert [item["name"] for item in found] == ["solvent 9"]


def test_an_import_runs_with_the_objects_older_than_it_frozen(lab, monkeypatch):
    """Full garbage collections skip the app's objects during an import (gc.freeze), which
    are unfrozen after it, whether it succeeds or fails; objects frozen by someone else
    (a server at its start) stay frozen."""
    frozen_while_adding: list[int] = []
    add = Engine.add

    def counting_add(self: Engine, entry: Any) -> None:
        frozen_while_adding.append(gc.get_freeze_count())
        add(self, entry)

    monkeypatch.setattr(Engine, "add", counting_add)
    assert gc.get_freeze_count() == 0
    assert counts(run(lab, export(3)))["created"] == 3
    assert len(frozen_while_adding) == 3 and min(frozen_while_adding) > 0
    assert gc.get_freeze_count() == 0
    assert run(lab, export(700).replace(b"CH-00650,", b"FAIL,")).status_code == 422
    assert gc.get_freeze_count() == 0
    gc.freeze()
    try:
        assert counts(run(lab, export(3)))["unchanged"] == 3
        assert gc.get_freeze_count() > 0  # (less the frozen objects freed since)
    finally:
        gc.unfreeze()


def test_bodies_validated_in_bulk_load_or_fail_as_one_validated_alone():
    """labvault.items.bulk.validate_input (fields loaded one by one, texts remembered)
    answers what the type's schema does, for valid bodies and for each kind of problem."""

    values = {
        "barcode": ["CH-1", "", None, "x" * 101, 5],
        "name": ["acetone", "", None, "n" * 501, 3.5],
        "cas": ["67-64-1", "67-64-2", "not a cas", None],
        "molar_mass": [58.08, 0.0, -1.0, "12", "abc", None, float("nan"), True, -0.0],
        "date_acquired": ["2024-03-01", "2024-02-30", None, dt.date(2024, 1, 1), 20240101],
        "ghs_hazard_codes": [["H225"], ["bad"], "H225", None],
        "attributes": [{"Owner": "g"}, {"": "x"}, {"k": "v" * 2001}, "text"],
        "status": ["available", "gone"],
        "unknown": ["x"],
    }

    def answer(validate: Any, body: dict[str, Any]) -> str:
        try:
            return repr(("loaded", validate("starting_material", dict(body))))
        except ma.ValidationError as error:
            return repr(("refused", error.messages))

    draw = random.Random(26)
    answers = set()
    for _ in range(3000):
        names = draw.sample(sorted(values), draw.randint(0, 6))
        body = {name: draw.choice(values[name]) for name in names}
        bulk = answer(validate_input, body)
        assert bulk == answer(validate_item_input, body), body
        answers.add(bulk.split("'")[1])
    assert answers == {"loaded", "refused"}
