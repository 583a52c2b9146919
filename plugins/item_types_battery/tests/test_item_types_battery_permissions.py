"""A cycling run is no lab-wide record: it is read by its creators, those its collections
are shared with, managers and admins, and by nobody else."""

from __future__ import annotations

from battery_steps import create, listed, new_cell, new_run, patch


def test_a_run_is_seen_by_its_creators_and_collections_only(app, client, labvault_make_user):
    owner, other, reader = (labvault_make_user(app) for _ in range(3))
    manager = labvault_make_user(app, role="manager")
    shared = {"user_id": reader.id, "permission": "read"}
    body = {"collection_id": "cycling", "shares": [shared]}
    assert client.post("/collections", json=body, headers=owner.headers).status_code == 201
    cell = new_cell(client, owner)
    run = new_run(client, owner, cell, name="run 1", c_rate=0.5, collections=["cycling"])
    refcode = run["refcode"]
    ghost = client.get("/items/test:QQQQQQ", headers=other.headers)

    hidden = client.get(f"/items/{refcode}", headers=other.headers)
    assert hidden.status_code == 404
    assert hidden.json["message"].replace(refcode, "test:QQQQQQ") == ghost.json["message"]
    assert listed(client, other) == []
    assert listed(client, reader) == ["run 1"]  # the cell is in no collection
    assert listed(client, owner) == listed(client, manager) == ["run 1", "coin cell 1"]
    for query in (
        {"type": "cycling_run"},
        {"type": "cycling_run", "field.c_rate": "0.5"},
        {"type": "cycling_run", "sort": "-field.c_rate"},
        {"q": "run"},
    ):
        assert listed(client, other, **query) == [], query
        assert listed(client, reader, **query) == ["run 1"], query
        assert listed(client, owner, **query) == ["run 1"], query
        assert listed(client, manager, **query) == ["run 1"], query
    blind = {**other.headers, "If-Match": "*"}  # other cannot read an ETag
    assert client.patch(f"/items/{refcode}", json={"c_rate": 1.0}, headers=blind).status_code == 404
    assert patch(client, reader, refcode, {"c_rate": 1.0}).status_code == 403
    assert patch(client, owner, refcode, {"c_rate": 1.0}).status_code == 200

    # a run of the other's own, on a cell they cannot read, is refused as naming nothing
    refused = client.post(
        "/items", json={"type": "cycling_run", "cell": cell}, headers=other.headers
    )
    assert refused.status_code == 422
    own_cell = create(client, other, type="cell")["refcode"]
    assert new_run(client, other, own_cell)["cell"] == own_cell
