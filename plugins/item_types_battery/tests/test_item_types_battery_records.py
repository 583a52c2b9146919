"""A cycling run through the API: created linked to its cell, refused when its body is
wrong, and documented in /openapi.json."""

from __future__ import annotations

import pytest
from battery_steps import create, new_cell, new_run, patch


def test_a_cycling_run_is_created_with_its_fields_and_linked_to_its_cell(client, alice):
    cell = new_cell(client, alice)
    run = new_run(
        client,
        alice,
        cell,
        name="NMC811 C/2",
        protocol="CC-CV 2.8-4.2 V",
        c_rate=0.5,
        temperature=25,
        cycles=0,
        channel="B3-12",
        started="2026-03-01",
    )

    read = client.get(f"/items/{run['refcode']}", headers=alice.headers)
    assert read.status_code == 200
    shown = read.json
    assert shown["type"] == "cycling_run"
    assert shown["status"] == "queued"  # the first of its statuses
    assert {k: shown[k] for k in ("cell", "protocol", "c_rate", "temperature", "cycles")} == {
        "cell": cell,
        "protocol": "CC-CV 2.8-4.2 V",
        "c_rate": 0.5,
        "temperature": 25.0,
        "cycles": 0,
    }
    assert shown["channel"] == "B3-12" and shown["started"] == "2026-03-01"
    assert shown["relationships"] == [
        {
            "refcode": cell,
            "item_id": cell.replace(":", "-"),
            "relation": "parent",
            "description": "",
            "derived": True,
        }
    ]
    graph = client.get(f"/items/{cell}/graph", headers=alice.headers).json
    assert {"source": run["refcode"], "target": cell, "relation": "parent"} in graph["edges"]


def test_the_link_follows_the_cell_field(client, alice):
    first, second = new_cell(client, alice, "cell A"), new_cell(client, alice, "cell B")
    run = new_run(client, alice, first)

    changed = patch(client, alice, run["refcode"], {"cell": second, "status": "running"})

    assert changed.status_code == 200, changed.json
    assert [r["refcode"] for r in changed.json["relationships"]] == [second]
    assert changed.json["status"] == "running"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"c_rate": -0.5}, "c_rate"),
        ({"c_rate": "fast"}, "c_rate"),
        ({"status": "paused"}, "status"),
        ({"cycles": -1}, "cycles"),
        ({"cycles": 2.5}, "cycles"),
        ({"cell": "not a refcode"}, "cell"),
        ({"started": "2026-03-02", "finished": "2026-03-01"}, "finished"),
        ({"temperature": -300}, "temperature"),
    ],
)
def test_a_wrong_field_is_a_422_naming_it(client, alice, body, field):
    cell = new_cell(client, alice)
    response = client.post(
        "/items", json={"type": "cycling_run", "cell": cell, **body}, headers=alice.headers
    )
    assert response.status_code == 422, response.json
    assert list(response.json["errors"]["json"]) == [field]


def test_a_run_without_its_cell_or_with_a_cell_nobody_has_is_a_422(client, alice):
    missing = client.post("/items", json={"type": "cycling_run"}, headers=alice.headers)
    assert missing.status_code == 422
    assert missing.json["errors"]["json"] == {"cell": ["Missing data for required field."]}

    nowhere = client.post(
        "/items", json={"type": "cycling_run", "cell": "test:QQQQQQ"}, headers=alice.headers
    )
    assert nowhere.status_code == 422
    assert "test:QQQQQQ" in str(nowhere.json["errors"]["json"]["relationships"])


def test_a_wrong_change_is_refused_and_changes_nothing(client, alice):
    run = new_run(client, alice, new_cell(client, alice), c_rate=1.0)

    refused = patch(client, alice, run["refcode"], {"c_rate": -1, "status": "paused"})

    assert refused.status_code == 422
    assert set(refused.json["errors"]["json"]) == {"c_rate", "status"}
    shown = client.get(f"/items/{run['refcode']}", headers=alice.headers).json
    assert (shown["c_rate"], shown["status"], shown["version"]) == (1.0, "queued", 1)


def test_the_api_documents_the_cycling_run(client):
    spec = client.get("/openapi.json").json
    schemas = spec["components"]["schemas"]
    (name,) = [n for n in schemas if n.startswith("CyclingRun") and "Create" in n]
    properties = schemas[name]["properties"]
    assert properties["c_rate"]["x-unit"] == "C" and properties["c_rate"]["minimum"] == 0
    assert properties["temperature"]["x-unit"] == "°C"
    assert properties["status"]["enum"] == ["queued", "running", "finished", "failed"]
    assert "cell" in schemas[name]["required"]


def test_a_server_without_the_plugin_refuses_new_cycling_runs(
    labvault_make_app, labvault_make_user
):
    app = labvault_make_app()
    user = labvault_make_user(app)
    client = app.test_client()
    cell = create(client, user, type="cell")["refcode"]
    response = client.post(
        "/items", json={"type": "cycling_run", "cell": cell}, headers=user.headers
    )
    assert response.status_code == 422
    assert "cell" in response.json["errors"]["json"]["type"][0]  # the types it has
