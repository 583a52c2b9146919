"""Every change of a cycling run is a version; restoring one brings its fields back, and
the lists filter by the restored values."""

from __future__ import annotations

import pytest
from battery_steps import DATABASES, listed, new_cell, new_run, patch


@pytest.mark.parametrize("labvault_database_url", DATABASES, indirect=True)
def test_a_restored_version_brings_back_the_old_c_rate_and_the_lists_follow(client, alice):
    cell = new_cell(client, alice)
    run = new_run(client, alice, cell, name="run 1", c_rate=0.5, temperature=25)
    refcode = run["refcode"]

    stale = client.get(f"/items/{refcode}", headers=alice.headers).headers["ETag"]
    changed = patch(client, alice, refcode, {"c_rate": 2.0, "status": "running"})
    assert changed.status_code == 200 and changed.json["c_rate"] == 2.0
    # an edit from the ETag read before the change is refused, and changes nothing
    late = client.patch(
        f"/items/{refcode}", json={"c_rate": 9.0}, headers={**alice.headers, "If-Match": stale}
    )
    assert late.status_code == 412

    versions = client.get(f"/items/{refcode}/versions", headers=alice.headers).json
    assert [(v["number"], v["action"]) for v in versions] == [(2, "update"), (1, "create")]
    first = client.get(f"/items/{refcode}/versions/1", headers=alice.headers).json
    assert (first["snapshot"]["c_rate"], first["snapshot"]["status"]) == (0.5, "queued")
    assert listed(client, alice, type="cycling_run", **{"field.c_rate": "2"}) == ["run 1"]
    assert listed(client, alice, type="cycling_run", **{"field.c_rate": "0.5"}) == []

    etag = client.get(f"/items/{refcode}", headers=alice.headers).headers["ETag"]
    without = client.post(f"/items/{refcode}/versions/1/restore", headers=alice.headers)
    assert without.status_code == 428
    restored = client.post(
        f"/items/{refcode}/versions/1/restore", headers={**alice.headers, "If-Match": etag}
    )

    assert restored.status_code == 200, restored.json
    assert (restored.json["c_rate"], restored.json["status"]) == (0.5, "queued")
    assert restored.json["version"] == 3
    assert [r["refcode"] for r in restored.json["relationships"]] == [cell]
    assert listed(client, alice, type="cycling_run", **{"field.c_rate": "0.5"}) == ["run 1"]
    assert listed(client, alice, type="cycling_run", **{"field.c_rate.gt": "1"}) == []
    actions = [
        v["action"] for v in client.get(f"/items/{refcode}/versions", headers=alice.headers).json
    ]
    assert actions == ["restore", "update", "create"]


def test_a_change_that_clears_a_field_drops_it_from_the_lists(client, alice):
    run = new_run(client, alice, new_cell(client, alice), name="run 1", c_rate=0.5)

    cleared = patch(client, alice, run["refcode"], {"c_rate": None})

    assert cleared.status_code == 200 and cleared.json["c_rate"] is None
    assert listed(client, alice, type="cycling_run", **{"field.c_rate.gte": "0"}) == []
    assert listed(client, alice, type="cycling_run", sort="field.c_rate") == []
    assert listed(client, alice, type="cycling_run") == ["run 1"]
