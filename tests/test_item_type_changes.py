"""An item type changes after items were made (a field removed, made stricter or added, a
status dropped) or its plugin is disabled: the items stay readable, ``labvault items
check-type`` lists those that no longer validate, and ``labvault config check`` names
the types no enabled plugin provides.

Each version of the type is a plugin: a module for the apps, an installed distribution
where a CLI command must find it by its entry point.
"""

from __future__ import annotations

import os
import textwrap
import types
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from labvault.cli import cli

from tests.records import assert_error, create_item, patch_item, statements, with_etag

#: The type as its items were made.
CYCLING_V1 = """
    from marshmallow import Schema, fields
    from labvault.plugin import ItemType, Text, hookimpl

    class CyclingFields(Schema):
        c_rate = fields.Float()
        cycles = fields.Integer()
        old_field = Text()
        label = Text()
        batch_date = Text()

    class CyclingRun(ItemType):
        name = "cycling_run"
        FieldsSchema = CyclingFields
        statuses = ("queued", "running", "paused", "finished")
        filterable = ("c_rate",)

    @hookimpl
    def labvault_item_types(host):
        return [CyclingRun]
"""
#: The type changed: old_field removed, c_rate bounded, label a number, batch_date a
#: date, the status "paused" dropped, operator added with a default.
CYCLING_V2 = """
    from marshmallow import Schema, fields
    from labvault.plugin import ItemType, Quantity, Text, hookimpl

    class CyclingFields(Schema):
        c_rate = Quantity("C", minimum=0)
        cycles = fields.Integer()
        label = fields.Float()
        batch_date = fields.Date()
        operator = Text(load_default="unknown")

    class CyclingRun(ItemType):
        name = "cycling_run"
        FieldsSchema = CyclingFields
        statuses = ("queued", "running", "finished")
        filterable = ("c_rate", "label")

    @hookimpl
    def labvault_item_types(host):
        return [CyclingRun]
"""
PLUGIN_API = ">=2.0,<3"


def plugin_module(name: str, source: str) -> types.ModuleType:
    """``source`` as a plugin module (``labvault_make_app(plugins={...})``)."""
    module = types.ModuleType(name)
    exec(textwrap.dedent(source), module.__dict__)
    module.LABVAULT_PLUGIN_API = PLUGIN_API  # type: ignore[attr-defined]
    return module


def cli_runner(app: Any, path: Path, monkeypatch: pytest.MonkeyPatch, **more: Any) -> CliRunner:
    """A runner of ``labvault`` commands on the app's database, with settings ``more``."""
    settings = app.extensions["labvault"].settings
    keys = ("IDENTIFIER_PREFIX", "SECRET_KEY", "INSTANCE_PATH", "DATABASE_URL", "FILE_DIRECTORY")
    values = {key: settings[key] for key in keys} | more
    path.write_text("".join(f"{key} = {value!r}\n" for key, value in values.items()))
    for name in [n for n in os.environ if n.startswith("LABVAULT_")]:
        monkeypatch.delenv(name)
    return CliRunner(env={"LABVAULT_CONFIG": str(path)})


def run(runner: CliRunner, *args: str) -> Any:
    result = runner.invoke(cli, list(args), catch_exceptions=False)
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def made_with_v1(labvault_make_app, labvault_make_user):
    """An app of type version 1 and its items: A breaks three rules of version 2, B none,
    C holds values version 2 refuses, D (in the trash) has a dropped status."""
    app = labvault_make_app(plugins={"cycling": plugin_module("cycling_v1", CYCLING_V1)})
    alice = labvault_make_user(app)
    client = app.test_client()

    def make(**fields: Any) -> dict[str, Any]:
        return create_item(client, alice, type="cycling_run", **fields)

    items = {
        "A": make(item_id="run-a", c_rate=-1.0, status="paused", old_field="kept"),
        "B": make(item_id="run-b", c_rate=0.5, cycles=10, status="running"),
        "C": make(item_id="run-c", c_rate=1.0, label="fast", batch_date="last spring"),
        "D": make(item_id="run-d", status="paused"),
    }
    deleted = client.delete(
        f"/items/{items['D']['refcode']}",
        headers=with_etag(alice, f'"{items["D"]["refcode"]}@1"'),
    )
    assert deleted.status_code == 204, deleted.get_data(as_text=True)
    return app, alice, items


def test_check_type_lists_the_items_that_no_longer_validate_and_their_problems(
    made_with_v1, dists, tmp_path, monkeypatch
):
    app, _alice, items = made_with_v1
    dists.add("cycling_v2", CYCLING_V2)
    runner = cli_runner(app, tmp_path / "config.py", monkeypatch, PLUGINS=["cycling_v2"])

    result = run(runner, "items", "check-type", "cycling_run")

    assert result.exit_code == 1, result.output
    a, c, d = (items[k]["refcode"] for k in "ACD")
    assert result.stdout == (
        f"{a} run-a\n"
        "  status: 'paused' is not a status of cycling_run\n"
        "  c_rate: Must be greater than or equal to 0.\n"
        "  old_field: no longer a field of the type\n"
        f"{c} run-c\n"
        "  label: Not a valid number.\n"
        "  batch_date: Not a valid date.\n"
        f"{d} run-d (in the trash)\n"
        "  status: 'paused' is not a status of cycling_run\n"
        "3 of 4 items of type cycling_run do not validate (1 in the trash)\n"
    )


def test_check_type_exits_0_when_all_validate(made_with_v1, dists, tmp_path, monkeypatch):
    app, _alice, _items = made_with_v1
    dists.add("cycling_v1", CYCLING_V1)
    runner = cli_runner(app, tmp_path / "config.py", monkeypatch, PLUGINS=["cycling_v1"])

    result = run(runner, "items", "check-type", "cycling_run")

    assert result.exit_code == 0, result.output
    assert result.stdout == "all 4 items of type cycling_run validate\n"


def test_check_type_reads_a_batch_of_items_at_a_time(made_with_v1, labvault_make_app):
    from labvault.items import checks, types

    _app, _alice, items = made_with_v1
    app = labvault_make_app(plugins={"cycling": plugin_module("cycling_v2", CYCLING_V2)})
    info = types.current().info("cycling_run")
    totals = checks.TypeCheck()
    with statements(app) as sent, app.extensions["labvault"].database.engine.connect() as db:
        found = list(checks.check_type(db, info, totals, batch_size=2))
    assert [f.refcode for f in found] == [items[k]["refcode"] for k in "ACD"]
    assert (totals.checked, totals.failed, totals.failed_in_trash) == (4, 3, 1)
    assert len([s for s in sent if "FROM items" in s]) == 3  # 2 + 2 + none left


def test_check_type_of_a_type_not_enabled_is_a_usage_error(labvault_app, tmp_path, monkeypatch):
    runner = cli_runner(labvault_app, tmp_path / "config.py", monkeypatch)

    result = run(runner, "items", "check-type", "cycling_run")

    assert result.exit_code == 2
    assert "'cycling_run' is not an enabled item type; enabled: cell, equipment, sample, " in (
        result.output
    )


def test_items_of_a_changed_type_stay_readable_and_changeable(made_with_v1, labvault_make_app):
    _app, alice, items = made_with_v1
    app = labvault_make_app(plugins={"cycling": plugin_module("cycling_v2", CYCLING_V2)})
    client = app.test_client()
    a, b, c = (items[k]["refcode"] for k in "ABC")

    # a removed field is shown as stored; a value now out of bounds as it is
    shown = client.get(f"/items/{a}", headers=alice.headers)
    assert shown.status_code == 200, shown.get_data(as_text=True)
    assert shown.json["c_rate"] == -1.0 and shown.json["status"] == "paused"
    assert shown.json["old_field"] == "kept"
    assert "operator" not in shown.json  # added later: absent on older items

    # a text in a field now a number or a date: the stored fields as they are
    shown = client.get(f"/items/{c}", headers=alice.headers)
    assert shown.status_code == 200, shown.get_data(as_text=True)
    assert shown.json["label"] == "fast" and shown.json["batch_date"] == "last spring"
    assert shown.json["c_rate"] == 1.0 and shown.json["item_id"] == "run-c"
    assert shown.json["created_at"] == items["C"]["created_at"]

    # a change checks what it sends; the fields it does not send stay as stored
    changed = patch_item(client, alice, c, {"name": "renamed"})
    assert changed.status_code == 200, changed.get_data(as_text=True)
    assert changed.json["name"] == "renamed" and changed.json["label"] == "fast"
    assert_error(patch_item(client, alice, a, {"c_rate": -2}), 422, "c_rate")
    assert_error(patch_item(client, alice, a, {"status": "paused"}), 422, "status")

    # a field added with a load_default: old items take a change at once, and show the
    # field once it is set (the default is for items made from now on)
    changed = patch_item(client, alice, b, {"cycles": 11})
    assert changed.status_code == 200, changed.get_data(as_text=True)
    assert "operator" not in changed.json and changed.json["cycles"] == 11
    changed = patch_item(client, alice, b, {"operator": "ada"})
    assert changed.status_code == 200 and changed.json["operator"] == "ada"
    new = create_item(client, alice, type="cycling_run", c_rate=2.0)
    assert new["operator"] == "unknown"

    # lists and the new filterable field read the old items too
    listed = client.get("/items", query_string={"type": "cycling_run"}, headers=alice.headers)
    assert {i["refcode"] for i in listed.json} >= {a, b, c}
    fast = client.get(
        "/items", query_string={"type": "cycling_run", "field.c_rate.lt": 0}, headers=alice.headers
    )
    assert [i["refcode"] for i in fast.json] == [a]


def test_items_of_a_disabled_type_are_read_only(made_with_v1, labvault_make_app):
    _app, alice, items = made_with_v1
    app = labvault_make_app()  # the plugin disabled
    client = app.test_client()
    a, c = items["A"]["refcode"], items["C"]["refcode"]

    shown = client.get(f"/items/{c}", headers=alice.headers)
    assert shown.status_code == 200, shown.get_data(as_text=True)
    assert shown.json["type"] == "cycling_run"
    assert shown.json["label"] == "fast" and shown.json["batch_date"] == "last spring"
    assert shown.json["c_rate"] == 1.0

    body = assert_error(patch_item(client, alice, a, {"name": "renamed"}), 409)
    assert "'cycling_run' are read-only: no enabled plugin provides that type" in body["message"]
    restored = client.post(
        f"/items/{a}/versions/1/restore", headers=with_etag(alice, shown_etag(client, alice, a))
    )
    assert_error(restored, 409)
    assert client.get(f"/items/{a}", headers=alice.headers).json["version"] == 1

    listed = client.get("/items", headers=alice.headers)
    assert listed.status_code == 200
    assert {a, c} <= {i["refcode"] for i in listed.json}
    posted = client.post("/items", json={"type": "cycling_run"}, headers=alice.headers)
    assert_error(posted, 422, "type")


def shown_etag(client: Any, user: Any, refcode: str) -> str:
    etag: str = client.get(f"/items/{refcode}", headers=user.headers).headers["ETag"]
    return etag


def test_config_check_warns_of_types_with_items_but_no_plugin(made_with_v1, tmp_path, monkeypatch):
    app, _alice, _items = made_with_v1
    runner = cli_runner(app, tmp_path / "config.py", monkeypatch)

    result = run(runner, "config", "check")

    assert result.exit_code == 0, result.output
    assert (
        "warning: items: type 'cycling_run' has 4 items (the trash counted) but no enabled "
        "plugin provides it: they are read-only until one does\n"
    ) in result.stderr
    assert "configuration is valid (with warnings)" in result.stdout
