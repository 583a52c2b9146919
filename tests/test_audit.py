"""The audit log: every admin and security action writes exactly one event, in the
action's own transaction (a refused action writes none), with who did it, to what and
what changed, never a secret; admins read it with GET /audit and `labvault audit`.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from labvault.audit.models import AuditEvent
from labvault.audit.service import record
from labvault.backups import runs
from labvault.backups.codec import BackupError
from labvault.cli import cli
from labvault.db import begin_write
from labvault.errors import WriteOutsideTransaction
from labvault.files_gc import collect_garbage
from labvault.testing import run_backup
from labvault.web.session import get_session

from tests.backup_lab import backups_of
from tests.backup_lab import make_app as make_backup_app
from tests.records import assert_error, create_item, current_etag, with_etag
from tests.test_inventory import EXPORT, SHEET, csv_file

EVENT_FIELDS = {"id", "at", "action", "actor_id", "actor", "target", "details", "client"}


def events(app: Any) -> list[dict[str, Any]]:
    """Every stored event, oldest first, as its columns."""
    with app.app_context():
        table = AuditEvent.__table__
        rows = get_session().execute(sa.select(table).order_by(table.c.id)).mappings()
        return [dict(row) for row in rows]


def change_user(client: Any, admin: Any, user_id: int, changes: dict[str, Any]) -> Any:
    etag = client.get(f"/users/{user_id}", headers=admin.headers).headers["ETag"]
    return client.patch(
        f"/users/{user_id}", json=changes, headers={**admin.headers, "If-Match": etag}
    )


def add_events(app: Any, *entries: tuple[str, str, dt.datetime]) -> None:
    """Events (action, target, at) written straight to the log, for the listing tests."""
    with app.app_context():
        session = get_session()
        begin_write(session)
        for action, target, at in entries:
            record(session, action, target, details={"n": target}).at = at
        session.commit()


def without_labvault_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own LABVAULT_* settings must not reach the command."""
    for name in [n for n in os.environ if n.startswith("LABVAULT_")]:
        monkeypatch.delenv(name)


def cli_runner(app: Any, path: Path, monkeypatch: pytest.MonkeyPatch, **more: Any) -> CliRunner:
    """A runner of `labvault` commands on the app's database and files."""
    settings = app.extensions["labvault"].settings
    keys = ("IDENTIFIER_PREFIX", "SECRET_KEY", "INSTANCE_PATH", "DATABASE_URL", "FILE_DIRECTORY")
    values = {key: settings[key] for key in keys} | more
    path.write_text("".join(f"{key} = {value!r}\n" for key, value in values.items()))
    without_labvault_environment(monkeypatch)
    return CliRunner(env={"LABVAULT_CONFIG": str(path)})


# --- what is recorded -------------------------------------------------------------------


def test_role_and_status_changes_are_recorded_with_the_admin_and_the_change(
    shared_app, labvault_make_user
):
    admin = labvault_make_user(shared_app, role="admin")
    alice = labvault_make_user(shared_app)
    client = shared_app.test_client()

    assert change_user(client, admin, alice.id, {"role": "manager"}).status_code == 200
    assert change_user(client, admin, alice.id, {"role": "manager"}).status_code == 200
    assert change_user(client, admin, alice.id, {"status": "deactivated"}).status_code == 200
    both = change_user(client, admin, alice.id, {"role": "user", "status": "active"})
    assert both.status_code == 200

    recorded = events(shared_app)
    assert [(e["action"], e["details"]) for e in recorded] == [
        ("user.role_changed", {"email": alice.email, "from": "user", "to": "manager"}),
        ("user.status_changed", {"email": alice.email, "from": "active", "to": "deactivated"}),
        ("user.role_changed", {"email": alice.email, "from": "manager", "to": "user"}),
        ("user.status_changed", {"email": alice.email, "from": "deactivated", "to": "active"}),
    ]
    for event in recorded:
        assert (event["actor_id"], event["actor"]) == (admin.id, admin.email)
        assert event["target"] == f"user {alice.id}"
        assert event["client"] == "127.0.0.1"
        assert abs(event["at"] - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)


def test_refused_actions_write_no_event(shared_app, labvault_make_user):
    admin = labvault_make_user(shared_app, role="admin")
    manager = labvault_make_user(shared_app, role="manager")
    alice = labvault_make_user(shared_app)
    client = shared_app.test_client()
    refcode = create_item(client, alice, name="kept")["refcode"]
    trashed = create_item(client, alice, name="in the trash")["refcode"]
    etag = current_etag(client, alice, trashed)
    assert client.delete(f"/items/{trashed}", headers=with_etag(alice, etag)).status_code == 204

    assert_error(change_user(client, admin, admin.id, {"role": "user"}), 409)
    assert_error(change_user(client, admin, alice.id, {"role": "chief"}), 422)
    assert_error(
        client.patch(f"/users/{alice.id}", json={"role": "admin"}, headers=admin.headers), 428
    )
    assert_error(
        client.patch(
            f"/users/{alice.id}",
            json={"role": "admin"},
            headers={**manager.headers, "If-Match": "*"},
        ),
        403,
    )
    assert_error(client.delete("/users/me/api-keys/999", headers=alice.headers), 404)
    assert_error(client.post("/users/me/api-keys", json={"name": ""}, headers=alice.headers), 422)
    assert_error(client.delete(f"/trash/{trashed}", headers=manager.headers), 403)
    assert_error(client.delete(f"/trash/{refcode}", headers=admin.headers), 404)  # not in it
    assert_error(client.post(f"/trash/{refcode}/restore", headers=alice.headers), 404)

    assert events(shared_app) == []


def test_api_keys_created_and_revoked_are_recorded_without_the_key(shared_app, labvault_make_user):
    alice = labvault_make_user(shared_app)
    client = shared_app.test_client()
    created = client.post(
        "/users/me/api-keys",
        json={"name": "balance", "expires_at": "2099-01-01T00:00:00+00:00"},
        headers=alice.headers,
    ).json
    revoked = client.delete(f"/users/me/api-keys/{created['id']}", headers=alice.headers)
    assert revoked.status_code == 204

    recorded = events(shared_app)
    assert [(e["action"], e["target"], e["actor_id"], e["details"]) for e in recorded] == [
        (
            "api_key.created",
            f"user {alice.id}",
            alice.id,
            {"key_id": created["id"], "name": "balance", "expires_at": "2099-01-01T00:00:00+00:00"},
        ),
        (
            "api_key.revoked",
            f"user {alice.id}",
            alice.id,
            {"key_id": created["id"], "name": "balance"},
        ),
    ]
    stored = json.dumps([{k: str(v) for k, v in e.items()} for e in recorded])
    assert created["key"] not in stored and created["key"][4:] not in stored
    assert alice.token not in stored


def test_trash_restores_and_purges_are_recorded(shared_app, labvault_make_user):
    admin = labvault_make_user(shared_app, role="admin")
    alice = labvault_make_user(shared_app)
    client = shared_app.test_client()
    item = create_item(client, alice, name="NMC cathode", item_id="nmc-7")
    refcode = item["refcode"]

    for then in ("restore", "purge"):
        etag = current_etag(client, alice, refcode)
        assert client.delete(f"/items/{refcode}", headers=with_etag(alice, etag)).status_code == 204
        if then == "restore":
            assert (
                client.post(f"/trash/{refcode}/restore", headers=alice.headers).status_code == 200
            )
        else:
            assert client.delete(f"/trash/{refcode}", headers=admin.headers).status_code == 204

    named = {"item_id": "nmc-7", "type": "sample", "name": "NMC cathode"}
    assert [
        (e["action"], e["actor_id"], e["target"], e["details"]) for e in events(shared_app)
    ] == [
        ("item.restored", alice.id, f"item {refcode}", named),
        ("item.purged", admin.id, f"item {refcode}", named),
    ]
    assert client.get(f"/items/{refcode}", headers=admin.headers).status_code == 404


def test_file_purges_are_one_event_and_a_dry_run_writes_none(labvault_make_app, labvault_make_user):
    app = labvault_make_app()
    admin = labvault_make_user(app, role="admin")
    client = app.test_client()
    refcode = create_item(client, admin, name="holder")["refcode"]
    uploaded = []
    for number in range(2):
        response = client.post(
            f"/items/{refcode}/files",
            data={"file": (io.BytesIO(b"content %d" % number), f"f{number}.txt")},
            content_type="multipart/form-data",
            headers=admin.headers,
        )
        assert response.status_code == 201, response.json
        uploaded.append(response.json["id"])
    etag = current_etag(client, admin, refcode)
    client.delete(f"/items/{refcode}", headers=with_etag(admin, etag))
    assert client.delete(f"/trash/{refcode}", headers=admin.headers).status_code == 204

    store = app.extensions["labvault"].file_store
    with app.app_context():
        dry = collect_garbage(get_session(), store, grace_seconds=0, dry_run=True, actor="cli")
        assert len(dry.files) == 2
        assert [e["action"] for e in events(app)] == ["item.purged"]
        done = collect_garbage(get_session(), store, grace_seconds=0, actor="cli")
        assert len(done.files) == 2
        again = collect_garbage(get_session(), store, grace_seconds=0, actor="cli")
        assert again.files == []

    purged = events(app)[1:]
    assert [(e["action"], e["actor_id"], e["actor"], e["details"]) for e in purged] == [
        ("file.purged", None, "cli", {"count": 2, "file_ids": uploaded})
    ]


@pytest.fixture
def backup_site(tmp_path, make_database, labvault_make_user):
    """An app on SQLite with a strategy "nightly", an admin and one item."""
    app = make_backup_app(tmp_path / "site", make_database("sqlite"))
    admin = labvault_make_user(app, role="admin")
    create_item(app.test_client(), admin, name="backed up")
    yield app, admin
    app.extensions["labvault"].database.dispose()


def test_backups_run_are_recorded_on_success_and_on_failure(backup_site, monkeypatch, caplog):
    app, admin = backup_site
    client = app.test_client()

    report = run_backup(client, admin.headers, "nightly")["last_report"]

    def unreachable(*_: Any) -> Any:
        raise BackupError("the target cannot be reached")

    monkeypatch.setattr(runs, "_run", unreachable)
    with caplog.at_level(logging.ERROR, logger="labvault.backups"):
        state = run_backup(client, admin.headers, "nightly")
    assert state["last_error"] == "the target cannot be reached"
    assert state["last_report"] == report  # the last success's
    assert (
        "backup strategy nightly failed: BackupError: the target cannot be reached" in caplog.text
    )
    with app.app_context(), pytest.raises(BackupError):
        runs.run_strategy(get_session(), backups_of(app), "nightly", actor="cli")
    assert_error(client.post("/backups/weekly", headers=admin.headers), 404)

    started, succeeded, started_again, failed, failed_in_cli = events(app)
    for event in (started, started_again):  # noted by the request, with its client
        assert (event["action"], event["target"]) == ("backup.started", "backup nightly")
        assert (event["actor_id"], event["client"]) == (admin.id, "127.0.0.1")
    assert started["details"]["job"] < started_again["details"]["job"]  # each run a job
    # the outcomes are noted by the run's job, after the answer: no client
    assert (succeeded["action"], succeeded["target"]) == ("backup.succeeded", "backup nightly")
    assert (succeeded["actor_id"], succeeded["client"]) == (admin.id, None)
    assert succeeded["details"] == {
        key: report[key] for key in ("snapshot", "rows", "files", "bytes", "seconds")
    }
    assert (failed["action"], failed["actor_id"]) == ("backup.failed", admin.id)
    assert failed["details"] == {"error": "the target cannot be reached"}
    assert (failed_in_cli["action"], failed_in_cli["actor_id"], failed_in_cli["actor"]) == (
        "backup.failed",
        None,
        "cli",
    )


def test_a_restore_is_recorded_in_the_restored_database(
    backup_site, labvault_make_user, tmp_path, make_database, monkeypatch
):
    app, admin = backup_site
    alice = labvault_make_user(app)
    assert change_user(app.test_client(), admin, alice.id, {"role": "manager"}).status_code == 200
    with app.app_context():
        archive = runs.create_archive(backups_of(app), tmp_path / "lab.tar.gz")
    other = make_backup_app(tmp_path / "other", make_database("sqlite"), tables=False)
    runner = cli_runner(other, tmp_path / "other.py", monkeypatch)

    result = runner.invoke(
        cli, ["backup", "restore", "--from-archive", str(tmp_path / "lab.tar.gz")]
    )

    assert result.exit_code == 0, result.output
    changed, restored = events(other)
    assert changed == events(app)[0] and changed["action"] == "user.role_changed"
    assert (restored["action"], restored["actor_id"], restored["actor"]) == (
        "backup.restored",
        None,
        "cli",
    )
    assert restored["target"] == f"snapshot {archive['snapshot']}"
    assert restored["details"]["source"] == "archive lab.tar.gz"
    assert restored["details"]["rows"] == archive["rows"] and restored["client"] is None
    other.extensions["labvault"].database.dispose()


def test_inventory_imports_are_recorded_with_their_counts(
    dists, labvault_make_app, labvault_make_user
):
    dists.add("sheet", SHEET)
    app = labvault_make_app(PLUGINS=["sheet"], INVENTORY_IMPORTERS={"stores": {"type": "sheet"}})
    manager = labvault_make_user(app, role="manager")
    client = app.test_client()

    def post(content: bytes, dry_run: bool = False) -> Any:
        data = {"importer": "stores", "file": (io.BytesIO(content), "export.csv")}
        data["dry_run"] = "true" if dry_run else "false"
        return client.post(
            "/inventory/imports",
            data=data,
            content_type="multipart/form-data",
            headers=manager.headers,
        )

    assert post(csv_file(*EXPORT), dry_run=True).status_code == 200
    assert post(csv_file(*EXPORT[:2], "FAIL,,,,,")).status_code == 422
    assert post(csv_file(*EXPORT)).status_code == 201

    (imported,) = events(app)
    assert (imported["action"], imported["target"]) == ("inventory.imported", "importer stores")
    assert (imported["actor_id"], imported["actor"]) == (manager.id, manager.email)
    assert imported["details"]["filename"] == "export.csv"
    assert imported["details"]["counts"] == {
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "missing": 0,
        "rejected": 0,
    }
    assert isinstance(imported["details"]["import_id"], int)


def test_record_refuses_secrets_and_writes_outside_the_action(shared_app):
    with shared_app.app_context():
        session = get_session()
        with pytest.raises(WriteOutsideTransaction):
            record(session, "user.role_changed", "user 1")
        begin_write(session)
        for details in ({"token": "x"}, {"api_key": "x"}, {"new": {"password": "x"}}):
            with pytest.raises(ValueError, match="must not hold secrets"):
                record(session, "api_key.created", "user 1", details=details)
        session.rollback()
    assert events(shared_app) == []


# --- GET /audit ---------------------------------------------------------------------------


def test_only_admins_read_the_audit_log(shared_app, labvault_make_user):
    client = shared_app.test_client()
    add_events(shared_app, ("user.role_changed", "user 1", dt.datetime(2026, 1, 1, tzinfo=dt.UTC)))

    assert_error(client.get("/audit"), 401)
    for role in ("user", "manager"):
        caller = labvault_make_user(shared_app, role=role)
        assert_error(client.get("/audit", headers=caller.headers), 403)
    admin = labvault_make_user(shared_app, role="admin")
    response = client.get("/audit", headers=admin.headers)

    assert response.status_code == 200
    (event,) = response.json
    assert set(event) == EVENT_FIELDS
    assert event["at"] == "2026-01-01T00:00:00+00:00"
    assert (event["action"], event["actor_id"], event["actor"]) == (
        "user.role_changed",
        None,
        "system",
    )
    assert (event["target"], event["details"], event["client"]) == ("user 1", {"n": "user 1"}, None)


def test_the_audit_log_is_filtered_and_paged_newest_first(shared_app, labvault_make_user):
    admin = labvault_make_user(shared_app, role="admin")
    alice = labvault_make_user(shared_app)
    client = shared_app.test_client()
    day = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    add_events(
        shared_app,
        *[("backup.succeeded", f"backup b{n}", day + dt.timedelta(days=n)) for n in range(4)],
    )
    change_user(client, admin, alice.id, {"role": "manager"})
    newest = events(shared_app)[-1]["id"]

    def listed(query: str) -> list[str]:
        response = client.get(f"/audit?{query}", headers=admin.headers)
        assert response.status_code == 200, response.json
        return [event["target"] for event in response.json]

    assert listed("") == [f"user {alice.id}", "backup b3", "backup b2", "backup b1", "backup b0"]
    assert listed("action=backup.succeeded&since=2026-03-02T00:00:00Z&until=2026-03-04") == [
        "backup b2",
        "backup b1",
    ]
    assert listed("since=2026-03-03T01:00:00%2B01:00") == [
        f"user {alice.id}",
        "backup b3",
        "backup b2",
    ]
    assert listed(f"actor_id={admin.id}") == [f"user {alice.id}"]
    assert listed(f"actor_id={alice.id}") == []
    assert listed("target=B1") == ["backup b1"]
    assert listed("target=%25") == []  # a wildcard is matched as text

    page = client.get("/audit?page=2&page_size=2", headers=admin.headers)
    assert [event["target"] for event in page.json] == ["backup b2", "backup b1"]
    assert json.loads(page.headers["X-Pagination"]) == {
        "total": 5,
        "total_pages": 3,
        "first_page": 1,
        "last_page": 3,
        "page": 2,
        "previous_page": 1,
        "next_page": 3,
        "total_exact": True,
    }
    assert client.get("/audit?page_size=1", headers=admin.headers).json[0]["id"] == newest


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("actions=user.role_changed", "actions"),
        ("actor_id=0", "actor_id"),
        ("actor_id=me", "actor_id"),
        ("since=yesterday", "since"),
        ("until=2026-13-01", "until"),
        ("target=", "target"),
        ("action=" + "x" * 61, "action"),
        ("page_size=0", "page_size"),
    ],
)
def test_bad_audit_filters_are_422(shared_app, labvault_make_user, query, field):
    admin = labvault_make_user(shared_app, role="admin")
    response = shared_app.test_client().get(f"/audit?{query}", headers=admin.headers)
    body = assert_error(response, 422)
    assert field in body["errors"]["query"], body


def test_the_audit_route_is_documented(shared_client):
    spec = shared_client.get("/openapi.json").json
    operation = spec["paths"]["/audit"]["get"]
    parameters = {p["name"] for p in operation["parameters"]}
    assert parameters >= {"action", "actor_id", "target", "since", "until", "page", "page_size"}
    assert "X-Pagination" in operation["responses"]["200"]["headers"]
    assert "422" in operation["responses"]


# --- labvault audit ------------------------------------------------------------------------


def test_labvault_audit_prints_one_line_per_event_newest_first(
    labvault_make_app, labvault_make_user, tmp_path, monkeypatch
):
    app = labvault_make_app()
    admin = labvault_make_user(app, role="admin")
    alice = labvault_make_user(app)
    day = dt.datetime(2026, 3, 1, 8, 30, tzinfo=dt.UTC)
    add_events(
        app, *[("backup.succeeded", f"backup b{n}", day + dt.timedelta(days=n)) for n in range(3)]
    )
    assert (
        change_user(app.test_client(), admin, alice.id, {"status": "deactivated"}).status_code
        == 200
    )
    runner = cli_runner(app, tmp_path / "config.py", monkeypatch)

    everything = runner.invoke(cli, ["audit"])
    assert everything.exit_code == 0, everything.output
    lines = everything.output.splitlines()
    assert len(lines) == 4
    assert lines[0].endswith(
        f"  user.status_changed  {admin.email} (user {admin.id})  user {alice.id}  "
        f'{{"email": "{alice.email}", "from": "active", "to": "deactivated"}}  from 127.0.0.1'
    )
    assert lines[1:] == [
        f'2026-03-0{n + 1} 08:30:00Z  backup.succeeded  system  backup b{n}  {{"n": "backup b{n}"}}'
        for n in (2, 1, 0)
    ]

    filtered = runner.invoke(
        cli,
        ["audit", "--action", "backup.succeeded", "--since", "2026-03-02T08:30", "--limit", "1"],
    )
    assert filtered.exit_code == 0, filtered.output
    assert filtered.output.splitlines() == [lines[1]]
    by_admin = runner.invoke(cli, ["audit", "--actor-id", str(admin.id), "--json"])
    (event,) = [json.loads(line) for line in by_admin.output.splitlines()]
    assert set(event) == EVENT_FIELDS
    assert (event["action"], event["actor_id"], event["target"]) == (
        "user.status_changed",
        admin.id,
        f"user {alice.id}",
    )
    none = runner.invoke(cli, ["audit", "--actor-id", str(alice.id)])
    assert none.exit_code == 0 and none.output == "no audit events\n"
    bad = runner.invoke(cli, ["audit", "--since", "last week"])
    assert bad.exit_code == 2 and "is not an ISO 8601 time" in bad.output
    far = runner.invoke(cli, ["audit", "--until", "0001-01-01T00:00:00+01:00"])
    assert far.exit_code == 2 and "is not between the years 1000 and 9999" in far.output


def test_users_changed_with_the_cli_are_recorded_as_the_cli(
    labvault_make_app, labvault_make_user, tmp_path, monkeypatch
):
    app = labvault_make_app()
    alice = labvault_make_user(app)
    runner = cli_runner(app, tmp_path / "config.py", monkeypatch)

    assert runner.invoke(cli, ["users", "set-role", alice.email, "admin"]).exit_code == 0
    assert runner.invoke(cli, ["users", "set-role", "nobody@lab.org", "admin"]).exit_code == 1

    (event,) = events(app)
    assert (event["action"], event["actor_id"], event["actor"], event["client"]) == (
        "user.role_changed",
        None,
        "cli",
        None,
    )
    assert event["details"] == {"email": alice.email, "from": "user", "to": "admin"}


@pytest.mark.parametrize(
    "query",
    [
        "since=0001-01-01T00:00:00%2B01:00",
        "until=9999-12-31T23:59:59-01:00",
        "until=0511-04-16",
        "since=2026-03-02&until=2026-03-01",  # an empty span
    ],
)
def test_times_beyond_what_a_database_stores_mean_its_ends(shared_app, labvault_make_user, query):
    """Any ISO 8601 time is a valid filter (the API documents no range): one before the
    first or after the last time a database stores means that end."""
    admin = labvault_make_user(shared_app, role="admin")
    response = shared_app.test_client().get(f"/audit?{query}", headers=admin.headers)
    assert response.status_code == 200, response.json
    assert response.json == []  # a new site has no events


def test_nul_in_a_filter_is_refused_by_the_gate(shared_app, labvault_make_user):
    admin = labvault_make_user(shared_app, role="admin")
    response = shared_app.test_client().get("/audit?target=a%00b", headers=admin.headers)
    assert_error(response, 422)
