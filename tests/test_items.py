"""/items: the four item types, identifiers, If-Match, lists, relationships and the graph.

Every request goes through the HTTP API; a few checks look at the stored rows too.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from labvault import paging
from labvault.db import begin_write
from labvault.items import service
from labvault.items.models import Item
from labvault.web.session import get_session

from tests.records import assert_error, with_etag
from tests.records import create_item as create
from tests.records import patch_item as patch

REFCODE = re.compile(r"test:[A-Z]{6}")

#: One item of each type with every field it has, as sent and as the API answers.
SAMPLE = {
    "type": "sample",
    "item_id": "LFP-001",
    "name": "LiFePO4 batch 1",
    "description": "Solid-state route, *ball milled*.",
    "date": "2024-03-01",
    "status": "synthesized",
    "chemical_formula": "LiFePO4",
    "synthesis_description": "Mill 2 h, anneal at 700 C under Ar.",
}
STARTING_MATERIAL = {
    "type": "starting_material",
    "item_id": "water-1",
    "name": "Water, deionised",
    "description": "Tap 3",
    "date": "2024-01-10",
    "status": "low",
    "barcode": "BC-000123",
    "cas": "7732-18-5",
    "chemical_formula": "H2O",
    "smiles": "O",
    "molar_mass": 18.015,
    "supplier": "Merck",
    "location": "Cabinet 4",
    "container_size": 2.5,
    "container_unit": "L",
    "chemical_purity": "99.9 %",
    "full_percent": 40.0,
    "ghs_hazard_codes": ["H225", "EUH066"],
    "date_acquired": "2024-01-15",
    "date_opened": "2024-02-01",
}
CELL = {
    "type": "cell",
    "item_id": "coin-7",
    "name": "Coin cell 7",
    "description": "",
    "date": None,
    "status": "cycling",
    "cell_format": "coin",
    "characteristic_mass": 12.5,
}
EQUIPMENT = {
    "type": "equipment",
    "item_id": "xrd-1",
    "name": "Powder diffractometer",
    "description": "Room 2.14",
    "date": "2019-05-05",
    "status": "maintenance",
    "manufacturer": "Bruker",
    "model": "D8 Advance",
    "serial_numbers": "SN-1, SN-2",
    "location": "Room 2.14",
    "contact": "xrd@example.org",
}


def listed(client: Any, user: Any, query: str = "") -> list[str]:
    response = client.get(f"/items?page_size=100&{query}", headers=user.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return [entry["refcode"] for entry in response.json]


def stored_item(app: Any, refcode: str) -> Item:
    with app.app_context():
        session = get_session()
        item = session.scalars(sa.select(Item).where(Item.refcode == refcode)).one()
        session.expunge(item)
        return item


def test_each_type_round_trips_all_its_fields(shared_app, labvault_make_user, subtests):
    client = shared_app.test_client()
    alice = labvault_make_user(shared_app)
    water = create(client, alice, **STARTING_MATERIAL)
    sample_in = {
        **SAMPLE,
        "synthesis_constituents": [
            {"item": water["refcode"], "quantity": 2.5, "unit": "mL"},
            {"name": "Fe(NO3)3", "quantity": 1, "unit": "g"},
        ],
    }
    sample = create(client, alice, **sample_in)
    cell_in = {
        **CELL,
        "positive_electrode": [{"item": sample["refcode"], "quantity": 12.5, "unit": "mg"}],
        "negative_electrode": [{"name": "Li metal"}],
        "electrolyte": [{"name": "1 M LiPF6 in EC/DMC", "quantity": 50, "unit": "uL"}],
    }
    cell = create(client, alice, **cell_in)
    equipment = create(client, alice, **EQUIPMENT)

    constituent_defaults = {"item": None, "name": None, "quantity": None, "unit": ""}
    for sent, created in (
        (STARTING_MATERIAL, water),
        (sample_in, sample),
        (cell_in, cell),
        (EQUIPMENT, equipment),
    ):
        with subtests.test(type=sent.get("type")):
            response = client.get(f"/items/{created['refcode']}", headers=alice.headers)
            assert response.status_code == 200
            assert response.json == created
            for name, value in sent.items():
                if isinstance(value, list) and value and isinstance(value[0], dict):
                    value = [{**constituent_defaults, **entry} for entry in value]
                assert created[name] == value, name
            assert REFCODE.fullmatch(created["refcode"])
            assert created["creators"] == [{"id": alice.id, "display_name": alice.email[:-12]}]
            assert created["collections"] == [] and created["version"] == 1
            assert created["created_at"] == created["updated_at"]
            assert created["deleted_at"] is None
            # only the fields of the item's own type are present
            other_types = {"cas", "cell_format", "manufacturer", "synthesis_constituents"} - set(
                sent
            )
            assert not other_types & set(created)

    changes = {"date_opened": "2024-03-03", "date_acquired": None, "ghs_hazard_codes": []}
    response = patch(client, alice, water["refcode"], changes)
    assert response.status_code == 200
    assert {name: response.json[name] for name in changes} == changes
    assert response.json["cas"] == "7732-18-5"

    row = stored_item(shared_app, water["refcode"])
    assert (row.type, row.item_id, row.status) == ("starting_material", "water-1", "low")
    assert row.date == dt.date(2024, 1, 10)
    assert row.fields["cas"] == "7732-18-5"
    assert row.fields["date_opened"] == "2024-03-03" and row.fields["ghs_hazard_codes"] == []
    assert row.created_by_id == alice.id and row.deleted_at is None


def test_refcode_and_item_id(shared_app, labvault_make_user, monkeypatch):
    client = shared_app.test_client()
    alice = labvault_make_user(shared_app)
    made = [
        create(client, alice, type=kind, **extra)
        for kind, extra in (
            ("sample", {}),
            ("starting_material", {"item_id": None}),
            ("cell", {}),
            ("equipment", {}),
        )
    ]
    assert [item["status"] for item in made] == ["planned", "available", "planned", "operational"]
    refcodes = {item["refcode"] for item in made}
    assert len(refcodes) == 4
    for item in made:
        assert REFCODE.fullmatch(item["refcode"])
        assert item["item_id"] == item["refcode"].replace(":", "-")
        assert item["name"] == "" and item["description"] == "" and item["date"] is None

    refcode = made[0]["refcode"]
    response = patch(client, alice, refcode, {"refcode": "test:AAAAAA"})
    assert_error(response, 422, "refcode")
    assert client.get(f"/items/{refcode}", headers=alice.headers).json["version"] == 1
    assert_error(patch(client, alice, refcode, {"item_id": None}), 422, "item_id")

    # item_id is the client's to choose and change; by-item-id follows it
    item = create(client, alice, item_id="first.name_1~x")
    refcode = item["refcode"]
    found = client.get("/items/by-item-id/first.name_1~x", headers=alice.headers)
    assert found.status_code == 200
    assert found.json["refcode"] == refcode
    assert found.headers["ETag"] == f'"{refcode}@1"'

    response = patch(client, alice, refcode, {"item_id": "renamed-" + "x" * 32})
    assert response.status_code == 200
    assert response.json["item_id"] == "renamed-" + "x" * 32
    assert response.json["refcode"] == refcode
    found = client.get("/items/by-item-id/renamed-" + "x" * 32, headers=alice.headers)
    assert found.json["refcode"] == refcode
    assert_error(client.get("/items/by-item-id/first.name_1~x", headers=alice.headers), 404)
    assert stored_item(shared_app, refcode).item_id == "renamed-" + "x" * 32

    # a drawn refcode is used only when neither it nor the item_id made from it is taken
    def drawn(letter: str) -> int:  # the random number that gives six of ``letter``
        return sum((ord(letter) - ord("A")) * 26**place for place in range(6))

    numbers = iter(map(drawn, "CACD"))
    monkeypatch.setattr(service, "secrets", SimpleNamespace(randbelow=lambda _: next(numbers)))
    chosen = create(client, alice, item_id="test-AAAAAA")
    assert chosen["refcode"] == "test:CCCCCC"
    generated = create(client, alice)
    assert (generated["refcode"], generated["item_id"]) == ("test:DDDDDD", "test-DDDDDD")


def test_refcodes_are_drawn_with_every_letter_as_likely_in_every_place():
    """Six letters from one random number each: every place takes every letter."""
    codes = [service._random_code() for _ in range(3000)]
    assert all(re.fullmatch("[A-Z]{6}", code) for code in codes)
    for place in range(6):
        assert {code[place] for code in codes} == set(service.REFCODE_LETTERS), place
    assert len(set(codes)) > 2990  # 308,915,776 codes: repeats are rare


def test_etag_changes_and_if_match(shared_app, labvault_make_user, subtests):
    client = shared_app.test_client()
    alice = labvault_make_user(shared_app)
    created = client.post("/items", json={"type": "equipment"}, headers=alice.headers)
    refcode = created.json["refcode"]
    seen = [created.headers["ETag"]]
    assert seen[0] == f'"{refcode}@1"'
    assert client.get(f"/items/{refcode}", headers=alice.headers).headers["ETag"] == seen[0]
    for changes in ({"name": "a"}, {"name": "a"}, {"status": "broken"}, {"model": "X"}):
        response = client.patch(
            f"/items/{refcode}", json=changes, headers=with_etag(alice, seen[-1])
        )
        assert response.status_code == 200, response.json
        seen.append(response.headers["ETag"])
        assert client.get(f"/items/{refcode}", headers=alice.headers).headers["ETag"] == seen[-1]
    assert len(set(seen)) == 5
    assert client.get(f"/items/{refcode}", headers=alice.headers).json["version"] == 5

    item = create(client, alice, name="before")
    refcode, first = item["refcode"], f'"{item["refcode"]}@1"'
    url = f"/items/{refcode}"

    assert_error(client.patch(url, json={"name": "x"}, headers=alice.headers), 428)
    assert_error(client.delete(url, headers=alice.headers), 428)
    response = client.patch(url, json={"name": "second"}, headers=with_etag(alice, first))
    assert response.status_code == 200
    second = response.headers["ETag"]

    for stale in (first, '"something-else"', f'W/"{refcode}@9"'):
        with subtests.test(etag=stale):
            response = client.patch(url, json={"name": "lost"}, headers=with_etag(alice, stale))
            assert_error(response, 412)
            assert response.headers["ETag"] == second
            assert_error(client.delete(url, headers=with_etag(alice, stale)), 412)
    assert client.get(url, headers=alice.headers).json["name"] == "second"

    # a list of tags, a weak tag and * all name the current version
    response = client.patch(
        url, json={"name": "third"}, headers=with_etag(alice, f'"x", W/{second}')
    )
    assert response.status_code == 200
    response = client.patch(url, json={"name": "fourth"}, headers=with_etag(alice, "*"))
    assert response.status_code == 200
    assert client.delete(url, headers=with_etag(alice, response.headers["ETag"])).status_code == 204
    assert_error(client.get(url, headers=alice.headers), 404)


def test_bad_inputs_are_clear_4xx_errors(shared_app, labvault_make_user, subtests):
    """Each bad body, whose cases name items made here, is a subtest of its own."""
    client = shared_app.test_client()
    alice = labvault_make_user(shared_app)
    bob = labvault_make_user(shared_app)
    sample = create(client, alice, item_id="taken")
    bobs = create(client, bob)
    alices = create(client, alice, type="cell")

    bad_creates: list[tuple[Any, int, str | None]] = [
        ({"type": "sample", "colour": "red"}, 422, "colour"),
        ({"type": "sample", "cas": "7732-18-5"}, 422, "cas"),
        ({"type": "equipment", "cell_format": "coin"}, 422, "cell_format"),
        ({"type": "rock"}, 422, "type"),
        ({"name": "no type"}, 422, "type"),
        ({"type": ["sample"]}, 422, "type"),
        ({"type": {"a": 1}}, 422, "type"),
        (["sample"], 422, None),
        ({"type": "sample", "name": 5}, 422, "name"),
        ({"type": "sample", "date": "yesterday"}, 422, "date"),
        ({"type": "sample", "creators": ["alice"]}, 422, "creators"),
        ({"type": "sample", "creators": [99999]}, 422, "creators"),
        ({"type": "sample", "creators": []}, 422, "creators"),  # nobody could edit it
        ({"type": "starting_material", "molar_mass": "heavy"}, 422, "molar_mass"),
        ({"type": "starting_material", "molar_mass": 0}, 422, "molar_mass"),
        ({"type": "starting_material", "full_percent": 101}, 422, "full_percent"),
        ({"type": "starting_material", "ghs_hazard_codes": ["flammable"]}, 422, None),
        ({"type": "starting_material", "cas": "7732-18-4"}, 422, "cas"),
        ({"type": "starting_material", "cas": "water"}, 422, "cas"),
        ({"type": "cell", "cell_format": "prismatic"}, 422, "cell_format"),
        ({"type": "cell", "status": "synthesized"}, 422, "status"),
        ({"type": "sample", "status": "available"}, 422, "status"),
        ({"type": "sample", "synthesis_constituents": [{"quantity": 1}]}, 422, None),
        (
            {"type": "sample", "synthesis_constituents": [{"item": "test:AAAAAA", "name": "x"}]},
            422,
            None,
        ),
        ({"type": "sample", "synthesis_constituents": [{"name": "x", "quantity": -1}]}, 422, None),
        ({"type": "sample", "item_id": "has space"}, 422, "item_id"),
        ({"type": "sample", "item_id": "a/b"}, 422, "item_id"),
        ({"type": "sample", "item_id": "x" * 41}, 422, "item_id"),
        ({"type": "sample", "item_id": "échantillon"}, 422, "item_id"),
        ({"type": "sample", "item_id": ""}, 422, "item_id"),
        ({"type": "sample", "item_id": "taken"}, 409, None),
        ({"type": "sample", "relationships": "x"}, 422, "relationships"),
        (
            {"type": "sample", "relationships": [{"refcode": "test:ZZZZZZ", "relation": "child"}]},
            422,
            "relationships",
        ),
        (
            {
                "type": "sample",
                "relationships": [{"refcode": bobs["refcode"], "relation": "other"}],
            },
            422,
            "relationships",
        ),
        (
            {"type": "sample", "relationships": [{"refcode": sample["refcode"], "relation": "x"}]},
            422,
            "relationships",
        ),
        ({"type": "sample", "synthesis_constituents": [{"item": bobs["refcode"]}]}, 422, None),
        ({"type": "sample", "collections": ["no-such-collection"]}, 422, "collections"),
    ]
    for body, code, field in bad_creates:
        with subtests.test("POST /items", body=body):
            assert_error(client.post("/items", json=body, headers=alice.headers), code, field)

    response = client.post(
        "/items",
        data='{"type": "sample",',
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    assert_error(response, 400)

    refcode = sample["refcode"]
    self_link = [{"refcode": refcode, "relation": "other"}]
    for changes, code, field in [
        ({"type": "cell"}, 422, "type"),
        ({"refcode": "test:ABCDEF"}, 422, "refcode"),
        ({"cas": "7732-18-5"}, 422, "cas"),
        ({"status": "cycling"}, 422, "status"),
        ({"name": None}, 422, "name"),
        ({"item_id": alices["item_id"]}, 409, None),  # bob's would be free: test_permissions
        ({"item_id": "with space"}, 422, "item_id"),
        ({"relationships": self_link}, 422, "relationships"),
        ({"relationships": [{"relation": "child"}]}, 422, "relationships"),
        ({"synthesis_constituents": [{"unit": "g"}]}, 422, "synthesis_constituents"),
        ({"synthesis_constituents": [{"item": refcode}]}, 422, "relationships"),
        ([1, 2], 422, None),
    ]:
        with subtests.test("PATCH /items/<refcode>", changes=changes):
            assert_error(patch(client, alice, refcode, changes), code, field)
    after = client.get(f"/items/{refcode}", headers=alice.headers).json
    assert (after["version"], after["item_id"], after["relationships"]) == (1, "taken", [])

    graph = client.get(f"/items/{refcode}/graph?depht=2", headers=alice.headers)
    assert_error(graph, 422, "depht", location="query")
    paged = client.get("/items?page=1&page_size=5&type=sample", headers=alice.headers)
    assert paged.status_code == 200 and len(paged.json) == 1

    assert_error(client.get("/items/test:ZZZZZZ", headers=alice.headers), 404)
    assert_error(client.get(f"/items/{bobs['refcode']}", headers=alice.headers), 404)
    assert_error(client.get("/items"), 401)
    with shared_app.app_context():
        # nothing was made but the three items above
        assert get_session().scalar(sa.select(sa.func.count()).select_from(Item)) == 3


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page_size=101", "page_size"),
        ("page_size=0", "page_size"),
        ("page=0", "page"),
        ("type=rock", "type"),
        ("creator=alice", "creator"),
        ("sort=colour", "sort"),
        ("typ=sample", "typ"),  # a misspelled filter is an error, not "no filter"
        ("page=1&page_size=5&type=sample&colour=red", "colour"),
    ],
)
def test_bad_list_arguments_are_422_naming_the_argument(
    shared_app, labvault_make_user, query, field
):
    alice = labvault_make_user(shared_app)
    response = shared_app.test_client().get(f"/items?{query}", headers=alice.headers)
    assert_error(response, 422, field, location="query")


def test_filters_search_and_unreadable_items(shared_app, labvault_make_user):
    client = shared_app.test_client()
    alice = labvault_make_user(shared_app)
    bob = labvault_make_user(shared_app)
    a_sample = create(client, alice, name="Alpha powder", status="synthesized")
    a_sample2 = create(client, alice, name="Beta film", description="Sputtered on quartz")
    a_cell = create(client, alice, type="cell", name="Coin 1", status="cycling")
    b_sample = create(client, bob, name="Alpha secret")
    b_water = create(
        client, bob, type="starting_material", name="Water", cas="7732-18-5", status="available"
    )
    # bob names alice as a creator, whom he sees: she shares a collection with him
    team = {"collection_id": "team", "shares": [{"user_id": bob.id, "permission": "read"}]}
    assert client.post("/collections", json=team, headers=alice.headers).status_code == 201
    co_made = create(client, bob, name="Gamma shared", creators=[alice.id, bob.id])
    response = client.post("/collections", json={"collection_id": "films"}, headers=alice.headers)
    assert response.status_code == 201
    for item in (a_sample2, a_cell):
        assert (
            client.put(
                f"/collections/films/items/{item['refcode']}", headers=alice.headers
            ).status_code
            == 204
        )

    def refs(*items: dict[str, Any]) -> set[str]:
        return {item["refcode"] for item in items}

    # bob's sample is his alone; starting materials are lab-wide
    everything = refs(a_sample, a_sample2, a_cell, b_water, co_made)
    assert set(listed(client, alice)) == everything
    assert b_sample["refcode"] not in listed(client, alice, "q=secret")
    assert set(listed(client, alice, "type=sample")) == refs(a_sample, a_sample2, co_made)
    assert set(listed(client, alice, "type=cell")) == refs(a_cell)
    assert set(listed(client, alice, "status=synthesized")) == refs(a_sample)
    assert set(listed(client, alice, "status=available")) == refs(b_water)
    assert set(listed(client, alice, "status=planned&type=sample")) == refs(a_sample2, co_made)
    assert set(listed(client, alice, f"creator={alice.id}")) == refs(
        a_sample, a_sample2, a_cell, co_made
    )
    assert set(listed(client, alice, f"creator={bob.id}")) == refs(b_water, co_made)
    assert set(listed(client, alice, "collection=films")) == refs(a_sample2, a_cell)
    assert set(listed(client, alice, "collection=films&type=cell")) == refs(a_cell)
    assert listed(client, alice, "collection=nothing") == []
    assert set(listed(client, bob, f"creator={alice.id}")) == refs(co_made)

    assert set(listed(client, alice, "q=alpha")) == refs(a_sample)
    assert set(listed(client, alice, "q=QUARTZ")) == refs(a_sample2)
    assert set(listed(client, alice, "q=7732-18-5")) == refs(b_water)
    assert set(listed(client, alice, "q=beta%20sputtered")) == refs(a_sample2)
    assert listed(client, alice, "q=beta%20alpha") == []
    assert set(listed(client, alice, f"q={a_cell['refcode']}")) == refs(a_cell)
    assert set(listed(client, alice, "q=coin&type=cell&sort=relevance")) == refs(a_cell)


def test_sorting_both_ways_and_pagination(shared_app, labvault_make_user, subtests):
    client = shared_app.test_client()
    alice = labvault_make_user(shared_app)
    base = dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)
    specs = [
        ("beta", "c-item", "2024-01-01", 2, 3),
        ("alpha", "a-item", "2024-03-01", 3, 1),
        ("gamma", "b-item", "2024-02-01", 1, 2),
    ]
    items = []
    for name, item_id, date, created, updated in specs:
        item = create(client, alice, name=name, item_id=item_id, date=date)
        items.append(item)
        with shared_app.app_context():
            session = get_session()
            begin_write(session)
            session.execute(
                sa.update(Item)
                .where(Item.refcode == item["refcode"])
                .values(
                    created_at=base + dt.timedelta(hours=created),
                    updated_at=base + dt.timedelta(hours=updated),
                )
            )
            session.commit()
    for item, (*_, created, updated) in zip(items, specs, strict=True):
        item["created_at"], item["updated_at"] = created, updated

    default = listed(client, alice)
    for key in ("updated_at", "created_at", "name", "item_id", "refcode", "date"):
        with subtests.test(sort=key):
            ascending = [i["refcode"] for i in sorted(items, key=lambda i, k=key: i[k])]
            assert listed(client, alice, f"sort={key}") == ascending, key
            assert listed(client, alice, f"sort=-{key}") == ascending[::-1], key
            if key == "updated_at":
                assert default == ascending[::-1]
                # without q there is nothing to rank: relevance is the default order
                assert listed(client, alice, "sort=relevance") == default

    for _ in range(2):
        create(client, alice)
    response = client.get("/items?page_size=2&page=1&sort=name", headers=alice.headers)
    assert response.status_code == 200 and len(response.json) == 2
    pages = json.loads(response.headers["X-Pagination"])
    assert pages["total"] == 5 and pages["total_pages"] == 3
    assert (pages["page"], pages["first_page"], pages["last_page"]) == (1, 1, 3)
    assert pages["next_page"] == 2
    seen = [entry["refcode"] for entry in response.json]
    for page in (2, 3):
        response = client.get(f"/items?page_size=2&page={page}&sort=name", headers=alice.headers)
        seen += [entry["refcode"] for entry in response.json]
    assert len(response.json) == 1 and len(set(seen)) == 5
    assert json.loads(response.headers["X-Pagination"])["page"] == 3
    response = client.get("/items?type=cell&page_size=2", headers=alice.headers)
    assert response.json == []
    assert json.loads(response.headers["X-Pagination"])["total"] == 0
    summary = client.get("/items?page_size=1", headers=alice.headers).json[0]
    assert set(summary) == {
        "refcode", "item_id", "type", "name", "status", "date", "created_at", "updated_at",
        "version",
    }  # fmt: skip


def test_long_lists_count_only_so_far(shared_app, labvault_make_user, monkeypatch):
    """Past COUNT_LIMIT rows the total is a lower bound; exact=true counts them all."""
    monkeypatch.setattr(paging, "COUNT_LIMIT", 3)
    client = shared_app.test_client()
    alice = labvault_make_user(shared_app)
    made = [create(client, alice, item_id=f"s-{n}")["refcode"] for n in range(6)]

    def page(query: str) -> tuple[list[str], dict[str, Any]]:
        response = client.get(f"/items?sort=item_id&{query}", headers=alice.headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        return [e["refcode"] for e in response.json], json.loads(response.headers["X-Pagination"])

    rows, meta = page("page_size=2")
    assert rows == made[:2]
    assert meta == {
        "total": 3, "total_exact": False, "first_page": 1, "page": 1, "next_page": 2,
    }  # fmt: skip
    rows, meta = page("page_size=2&page=2")  # counted as far as 3 from the page start
    assert rows == made[2:4]
    assert (meta["total"], meta["total_exact"], meta["next_page"]) == (5, False, 3)
    assert "last_page" not in meta and "total_pages" not in meta
    rows, meta = page("page_size=2&exact=true")
    assert rows == made[:2]
    assert (meta["total"], meta["total_exact"], meta["last_page"]) == (6, True, 3)
    rows, meta = page("page_size=4&page=2")  # the last page tells the total
    assert rows == made[4:] and (meta["total"], meta["total_exact"]) == (6, True)
    response = client.get("/items?exact=maybe", headers=alice.headers)
    assert response.status_code == 422 and "exact" in response.json["errors"]["query"]


def test_the_page_header_and_exact_are_documented(labvault_make_app):
    for _ in range(2):  # each app's document defines the schema it refers to
        spec = labvault_make_app().test_client().get("/openapi.json").json
        listing = spec["paths"]["/items"]["get"]
        header = listing["responses"]["200"]["headers"]["X-Pagination"]
        # JSON text: described by its media type, not as a simple header value
        schema = header["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
        assert "total_exact" in spec["components"]["schemas"][schema]["properties"]
        exact = next(p for p in listing["parameters"] if p["name"] == "exact")
        assert exact["schema"] == {"type": "boolean", "default": False}


def test_relationships_set_directly_and_derived(shared_app, labvault_make_user):
    client = shared_app.test_client()
    alice = labvault_make_user(shared_app)
    water = create(client, alice, type="starting_material", name="water")
    salt = create(client, alice, type="starting_material", name="salt")
    sample = create(
        client,
        alice,
        synthesis_constituents=[
            {"item": water["refcode"], "quantity": 1, "unit": "L"},
            {"name": "love"},
            {"item": water["refcode"], "quantity": 2, "unit": "L"},
        ],
    )

    def link(item: dict[str, Any], relation: str, derived: bool, description: str = "") -> dict:
        return {
            "refcode": item["refcode"],
            "item_id": item["item_id"],
            "relation": relation,
            "description": description,
            "derived": derived,
        }

    def ordered(links: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(links, key=lambda r: (r["refcode"], r["relation"], r["derived"]))

    assert sample["relationships"] == [link(water, "parent", True)]
    cell = create(
        client,
        alice,
        type="cell",
        positive_electrode=[{"item": sample["refcode"]}],
        electrolyte=[{"item": salt["refcode"]}, {"name": "EC"}],
    )
    assert ordered(cell["relationships"]) == ordered(
        [link(sample, "parent", True), link(salt, "parent", True)]
    )

    # changing the constituents changes the derived relationships
    response = patch(
        client, alice, sample["refcode"], {"synthesis_constituents": [{"item": salt["refcode"]}]}
    )
    assert response.json["relationships"] == [link(salt, "parent", True)]
    # a constituent sent in a PATCH gets the same defaults as one sent on creation
    assert response.json["synthesis_constituents"] == [
        {"item": salt["refcode"], "name": None, "quantity": None, "unit": ""}
    ]
    response = patch(client, alice, cell["refcode"], {"electrolyte": []})
    assert response.json["relationships"] == [link(sample, "parent", True)]

    # manual relationships stay through other changes, beside the derived ones
    manual = [
        {"refcode": water["refcode"], "relation": "other", "description": "same bottle"},
        {"refcode": cell["refcode"], "relation": "child"},
    ]
    response = patch(client, alice, sample["refcode"], {"relationships": manual})
    expected = ordered(
        [
            link(water, "other", False, "same bottle"),
            link(cell, "child", False),
            link(salt, "parent", True),
        ]
    )
    assert ordered(response.json["relationships"]) == expected
    response = patch(client, alice, sample["refcode"], {"name": "renamed"})
    assert ordered(response.json["relationships"]) == expected
    # a manual parent beside a derived parent to the same item
    response = patch(
        client,
        alice,
        sample["refcode"],
        {"relationships": [{"refcode": salt["refcode"], "relation": "parent"}]},
    )
    assert ordered(response.json["relationships"]) == [
        link(salt, "parent", False),
        link(salt, "parent", True),
    ]
    response = patch(client, alice, sample["refcode"], {"relationships": []})
    assert response.json["relationships"] == [link(salt, "parent", True)]
    response = patch(client, alice, sample["refcode"], {"synthesis_constituents": []})
    assert response.json["relationships"] == []


def test_links_to_trashed_or_unreadable_items_do_not_block_changes(shared_app, labvault_make_user):
    client = shared_app.test_client()
    alice = labvault_make_user(shared_app)
    bob = labvault_make_user(shared_app)
    precursor = create(client, alice, name="precursor")
    other = create(client, alice, name="other")
    unrelated = create(client, alice, name="unrelated")
    product = create(
        client,
        alice,
        synthesis_constituents=[{"item": precursor["refcode"]}],
        relationships=[{"refcode": other["refcode"], "relation": "other"}],
    )
    # bob may change the product (write share) but cannot read its precursor
    response = client.post(
        "/collections",
        json={"collection_id": "shared", "shares": [{"user_id": bob.id, "permission": "write"}]},
        headers=alice.headers,
    )
    assert response.status_code == 201
    response = client.put(f"/collections/shared/items/{product['refcode']}", headers=alice.headers)
    assert response.status_code == 204
    response = patch(client, bob, product["refcode"], {"name": "by bob"})
    assert response.status_code == 200, response.json
    assert response.json["relationships"] == []  # hidden from bob, but kept
    # a new link bob cannot read is still refused
    response = patch(
        client,
        bob,
        product["refcode"],
        {"synthesis_constituents": [{"item": unrelated["refcode"]}]},
    )
    assert_error(response, 422, "relationships")

    for item in (precursor, other):
        etag = f'"{item["refcode"]}@1"'
        assert (
            client.delete(f"/items/{item['refcode']}", headers=with_etag(alice, etag)).status_code
            == 204
        )
    response = patch(client, alice, product["refcode"], {"name": "precursor in the trash"})
    assert response.status_code == 200, response.json
    assert response.json["relationships"] == []
    for item in (precursor, other):
        assert (
            client.post(f"/trash/{item['refcode']}/restore", headers=alice.headers).status_code
            == 200
        )
    relations = client.get(f"/items/{product['refcode']}", headers=alice.headers).json[
        "relationships"
    ]
    assert sorted((r["refcode"], r["relation"], r["derived"]) for r in relations) == sorted(
        [
            (other["refcode"], "other", False),
            (precursor["refcode"], "parent", True),
        ]
    )


def test_graph_depth_and_hidden_items(shared_app, labvault_make_user, subtests):
    client = shared_app.test_client()
    alice = labvault_make_user(shared_app)
    bob = labvault_make_user(shared_app)
    manager = labvault_make_user(shared_app, role="manager")
    powder = create(client, alice, type="starting_material", name="powder")
    sample = create(client, alice, synthesis_constituents=[{"item": powder["refcode"]}])
    cell = create(client, alice, type="cell", positive_electrode=[{"item": sample["refcode"]}])
    bobs = create(client, bob, synthesis_constituents=[{"item": powder["refcode"]}])

    def graph(user: Any, item: dict[str, Any], depth: int) -> tuple[set[str], set[tuple]]:
        response = client.get(f"/items/{item['refcode']}/graph?depth={depth}", headers=user.headers)
        assert response.status_code == 200, response.json
        nodes = {node["refcode"] for node in response.json["nodes"]}
        edges = {(e["source"], e["target"], e["relation"]) for e in response.json["edges"]}
        assert {ref for edge in edges for ref in edge[:2]} <= nodes
        return nodes, edges

    p, s, c, b = (i["refcode"] for i in (powder, sample, cell, bobs))
    assert graph(alice, cell, 1) == ({c, s}, {(c, s, "parent")})
    assert graph(alice, cell, 2) == ({c, s, p}, {(c, s, "parent"), (s, p, "parent")})
    assert graph(alice, cell, 3) == graph(alice, cell, 2)  # bob's sample stays hidden
    assert graph(manager, cell, 3) == (
        {c, s, p, b},
        {(c, s, "parent"), (s, p, "parent"), (b, p, "parent")},
    )
    assert graph(alice, powder, 1) == ({p, s}, {(s, p, "parent")})
    assert graph(bob, powder, 1) == ({p, b}, {(b, p, "parent")})
    assert graph(manager, powder, 1)[0] == {p, s, b}
    assert graph(alice, sample, 1) == ({s, p, c}, {(c, s, "parent"), (s, p, "parent")})
    response = client.get(f"/items/{s}/graph", headers=alice.headers)
    assert {node["refcode"] for node in response.json["nodes"]} == {s, p, c}

    both = create(
        client,
        alice,
        type="cell",
        positive_electrode=[{"item": s}],
        negative_electrode=[{"item": p}],
    )["refcode"]
    # the edge between two items of the last step is shown too
    assert graph(alice, powder, 1) == (
        {p, s, both},
        {(s, p, "parent"), (both, p, "parent"), (both, s, "parent")},
    )
    for depth in (0, 6):
        with subtests.test("graph depth", depth=depth):
            response = client.get(f"/items/{s}/graph?depth={depth}", headers=alice.headers)
            assert_error(response, 422, "depth", location="query")
    assert_error(client.get(f"/items/{s}/graph", headers=bob.headers), 404)
    # a trashed item leaves the graph
    client.delete(f"/items/{s}", headers=with_etag(alice, "*"))
    assert graph(alice, cell, 2) == ({c}, set())
