"""Cycling runs on a server whose deployer has disabled the plugin: kept, readable with
their stored fields and listed, but read-only until the plugin is enabled again."""

from __future__ import annotations

from battery_steps import listed, new_cell, new_run, patch


def test_runs_of_a_disabled_plugin_are_read_but_never_changed(
    labvault_make_app, labvault_make_user
):
    enabled = labvault_make_app(PLUGINS=["item_types_battery"])
    alice = labvault_make_user(enabled)
    client = enabled.test_client()
    cell = new_cell(client, alice)
    run = new_run(client, alice, cell, name="run 1", c_rate=0.5, temperature=25, cycles=10)
    refcode = run["refcode"]

    disabled = labvault_make_app()  # the same database, without the plugin
    client = disabled.test_client()

    read = client.get(f"/items/{refcode}", headers=alice.headers)
    assert read.status_code == 200
    shown = read.json
    assert shown["type"] == "cycling_run" and shown["name"] == "run 1"
    assert (shown["cell"], shown["c_rate"], shown["temperature"], shown["cycles"]) == (
        cell,
        0.5,
        25.0,
        10,
    )
    assert [r["refcode"] for r in shown["relationships"]] == [cell]
    assert listed(client, alice) == ["coin cell 1", "run 1"][::-1]
    assert listed(client, alice, type="cycling_run") == ["run 1"]
    filtered = client.get("/items?type=cycling_run&field.c_rate=0.5", headers=alice.headers)
    assert filtered.status_code == 422
    # no enabled type filters on c_rate: its values are kept, not read
    assert "no item type filters" in filtered.json["errors"]["query"]["field.c_rate"][0]

    refused = patch(client, alice, refcode, {"c_rate": 1.0})
    assert refused.status_code == 409
    assert "cycling_run" in refused.json["message"] and "read-only" in refused.json["message"]
    etag = read.headers["ETag"]
    restore = client.post(
        f"/items/{refcode}/versions/1/restore", headers={**alice.headers, "If-Match": etag}
    )
    assert restore.status_code == 409
    assert client.get(f"/items/{refcode}", headers=alice.headers).json["version"] == 1

    # enabled again: the run is changed as before, and its field filters follow
    again = labvault_make_app(PLUGINS=["item_types_battery"])
    client = again.test_client()
    changed = patch(client, alice, refcode, {"c_rate": 1.0})
    assert changed.status_code == 200 and changed.json["c_rate"] == 1.0
    assert listed(client, alice, type="cycling_run", **{"field.c_rate": "1"}) == ["run 1"]
