"""GET /item-types: the item types a server offers, the core's four and a plugin's.

This module is itself the plugin its tests register (``labvault_make_app(plugins=...)``):
it holds an item type, its hookimpl and ``LABVAULT_PLUGIN_API``, as a plugin's module would.
"""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import marshmallow as ma
import pytest
from labvault.plugin import Choice, ItemReference, ItemType, Quantity, SearchWeight, hookimpl
from marshmallow import fields
from openapi_spec_validator import validate as validate_openapi

from tests.records import create_item

LABVAULT_PLUGIN_API = ">=2.0,<3"
GUIDE = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


class CyclingFields(ma.Schema):
    cell = ItemReference(allow_none=True)
    c_rate = Quantity("C", minimum=0)
    cycles = fields.Integer()
    protocol = Choice(["cccv", "gitt"])
    tags = fields.List(fields.String())
    notes = fields.String()


class CyclingRun(ItemType):
    name = "cycling_run"
    display_name = "Cycling run"
    description = "A battery cell cycled on a channel of a cycler"
    FieldsSchema = CyclingFields
    statuses = ("queued", "running", "finished", "failed")
    searched = {"notes": SearchWeight.BODY, "protocol": SearchWeight.TITLE}
    filterable = ("c_rate", "cycles", "protocol", "tags")
    derived_links = {"cell": "cycling"}
    identifier_pattern = r"^run-\d{1,6}$"


@hookimpl
def labvault_item_types() -> list[type[ItemType]]:
    return [CyclingRun]


@pytest.fixture
def user(shared_app, labvault_make_user):
    return labvault_make_user(shared_app)


def test_the_core_types_are_listed_with_statuses_and_filterable_fields(shared_client, user):
    answer = shared_client.get("/item-types", headers=user.headers)

    assert answer.status_code == 200, answer.json
    by_name = {t["name"]: t for t in answer.json}
    assert list(by_name) == ["sample", "starting_material", "cell", "equipment"]
    material = by_name["starting_material"]
    assert {k: v for k, v in material.items() if k not in ("schema", "searched")} == {
        "name": "starting_material",
        "display_name": "Starting material",
        "description": "A container of a chemical in the lab's inventory, shared by everyone",
        "lab_wide": True,
        "statuses": ["available", "low", "empty", "ordered", "disposed"],
        "default_status": "available",
        "identifier_pattern": None,
        "filterable": [
            {"name": "barcode", "kind": "text", "many": False, "sortable": True},
            {"name": "cas", "kind": "text", "many": False, "sortable": True},
        ],
        "list_arguments": ["barcode", "cas"],
        "derived_links": {},
    }
    assert {"name": "cas", "weight": "body"} in material["searched"]
    assert by_name["sample"]["statuses"][0] == by_name["sample"]["default_status"] == "planned"
    assert by_name["sample"]["lab_wide"] is False
    assert by_name["sample"]["filterable"] == []
    assert by_name["sample"]["derived_links"] == {"synthesis_constituents": "synthesis"}


def test_the_schema_is_the_create_body_as_json_schema(shared_client, user):
    material = shared_client.get("/item-types/starting_material", headers=user.headers).json

    schema = material["schema"]
    assert schema["type"] == "object"
    assert "type" in schema["required"]
    assert schema["properties"]["type"]["enum"] == ["starting_material"]
    assert schema["properties"]["status"]["enum"] == material["statuses"]
    for field in ("barcode", "cas", "molar_mass", "ghs_hazard_codes", "name", "item_id"):
        assert field in schema["properties"], field
    assert "synthesis_constituents" not in schema["properties"]  # a sample's field
    assert schema["properties"]["ghs_hazard_codes"]["type"] == "array"


def test_an_unknown_type_is_404_and_signing_in_is_needed(shared_client, user):
    unknown = shared_client.get("/item-types/spaceship", headers=user.headers)
    assert unknown.status_code == 404
    assert "sample" in unknown.json["message"]
    for path in ("/item-types", "/item-types/sample"):
        assert shared_client.get(path).status_code == 401


def test_a_plugins_type_is_listed_with_its_fields_and_takes_items(
    labvault_make_app, labvault_make_user
):
    app = labvault_make_app(plugins={"cycling": sys.modules[__name__]})
    client, user = app.test_client(), labvault_make_user(app)

    listed = client.get("/item-types", headers=user.headers).json
    assert [t["name"] for t in listed][-1] == "cycling_run"
    run = client.get("/item-types/cycling_run", headers=user.headers).json
    assert run["display_name"] == "Cycling run"
    assert run["statuses"] == ["queued", "running", "finished", "failed"]
    assert run["default_status"] == "queued"
    assert run["identifier_pattern"] == r"^run-\d{1,6}$"
    assert run["derived_links"] == {"cell": "cycling"}
    assert run["filterable"] == [
        {"name": "c_rate", "kind": "number", "many": False, "sortable": True},
        {"name": "cycles", "kind": "number", "many": False, "sortable": True},
        {"name": "protocol", "kind": "text", "many": False, "sortable": True},
        {"name": "tags", "kind": "text", "many": True, "sortable": False},
    ]
    assert {"name": "protocol", "weight": "title"} in run["searched"]
    properties = run["schema"]["properties"]
    assert properties["c_rate"]["x-unit"] == "C"
    assert properties["c_rate"]["minimum"] == 0
    assert properties["protocol"]["enum"] == ["cccv", "gitt"]
    assert properties["cell"]["x-item-reference"] is True
    assert properties["item_id"]["pattern"] == r"^run-\d{1,6}$"

    # what the listing says is what the server takes
    for c_rate in (0.5, 2.0):
        create_item(client, user, type="cycling_run", name=f"run at {c_rate}C", c_rate=c_rate)
    found = client.get(
        "/items?type=cycling_run&field.c_rate.gte=1&sort=-field.c_rate", headers=user.headers
    )
    assert found.status_code == 200, found.json
    assert [item["name"] for item in found.json] == ["run at 2.0C"]
    # a pattern with braces is named as it is in the refusal
    refused = client.post(
        "/items", json={"type": "cycling_run", "item_id": "run-1234567"}, headers=user.headers
    )
    assert refused.status_code == 422
    assert refused.json["errors"]["json"]["item_id"] == [
        r"an item_id of a cycling_run must match ^run-\d{1,6}$"
    ]


def test_a_plugins_type_is_documented_in_the_api_and_the_document_stays_valid(
    labvault_make_app,
):
    app = labvault_make_app(plugins={"cycling": sys.modules[__name__]})

    spec = app.test_client().get("/openapi.json").json
    validate_openapi(spec)
    create = spec["paths"]["/items"]["post"]["requestBody"]["content"]["application/json"]
    mapping = create["schema"]["discriminator"]["mapping"]
    assert mapping["cycling_run"] == "#/components/schemas/CyclingRunCreate"
    assert {"$ref": mapping["cycling_run"]} in create["schema"]["oneOf"]
    body = spec["components"]["schemas"]["CyclingRunCreate"]
    assert body["properties"]["c_rate"]["x-unit"] == "C"
    answer = spec["paths"]["/items/{refcode}"]["get"]["responses"]["200"]["content"]
    answers = answer["application/json"]["schema"]["discriminator"]["mapping"]
    assert answers["cycling_run"] == "#/components/schemas/CyclingRunItem"
    listing = spec["paths"]["/items"]["get"]
    assert "- cycling_run: c_rate, cycles, protocol, tags" in listing["description"]
    assert (
        "cycling_run"
        in next(p for p in listing["parameters"] if p["name"] == "type")["schema"]["enum"]
    )


def guide_example() -> types.ModuleType:
    """The item type module of the plugin author guide, as the page writes it."""
    (source,) = re.findall(
        r"<!-- file: labvault_cycling/__init__.py -->\n```python\n(.*?)\n```",
        GUIDE.read_text(encoding="utf-8"),
        re.DOTALL,
    )
    module = types.ModuleType("labvault_cycling")
    exec(compile(source, str(GUIDE), "exec"), module.__dict__)
    return module


def test_the_guides_item_type_works_as_the_guide_says(labvault_make_app, labvault_make_user):
    app = labvault_make_app(plugins={"cycling": guide_example()})
    client, user = app.test_client(), labvault_make_user(app)

    cell = client.post("/items", json={"type": "cell", "name": "coin"}, headers=user.headers).json
    body = {"type": "cycling_run", "cell": cell["refcode"], "c_rate": 0.5, "started": "2026-03-02"}
    run = client.post("/items", json=body, headers=user.headers)
    assert run.status_code == 201, run.json
    assert (run.json["status"], run.json["protocol"]) == ("queued", "cccv")
    (parent,) = run.json["relationships"]
    assert (parent["refcode"], parent["relation"], parent["derived"]) == (
        cell["refcode"],
        "parent",
        True,
    )
    graph = client.get(f"/items/{cell['refcode']}/graph", headers=user.headers).json
    assert {"relation": "parent", "source": run.json["refcode"], "target": cell["refcode"]} in (
        graph["edges"]
    )
    fast = client.post(
        "/items",
        json={**body, "c_rate": 2, "tags": ["calendar-ageing"], "item_id": "run-001"},
        headers=user.headers,
    )
    assert fast.status_code == 201, fast.json
    bad_id = client.post("/items", json={**body, "item_id": "r1"}, headers=user.headers)
    assert bad_id.status_code == 422
    assert "must match ^run-[0-9]{3,}$" in str(bad_id.json)

    def listed(query):
        answer = client.get(f"/items?{query}", headers=user.headers)
        assert answer.status_code == 200, answer.json
        return [item["refcode"] for item in answer.json]

    runs = [run.json["refcode"], fast.json["refcode"]]
    assert listed("type=cycling_run&field.c_rate.gte=0.5&field.c_rate.lt=2") == runs[:1]
    assert listed("type=cycling_run&field.tags=calendar-ageing") == runs[1:]
    assert listed("type=cycling_run&field.started.gte=2026-01-01&sort=-field.c_rate") == [
        runs[1],
        runs[0],
    ]
    assert listed("type=cycling_run&sort=field.cycles") == []  # no run has a value
    refused = client.get("/items?type=cycling_run&field.c_rate=fast", headers=user.headers)
    assert refused.status_code == 422 and "field.c_rate" in str(refused.json)
