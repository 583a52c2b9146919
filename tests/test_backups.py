"""Backup strategies: deduplication, retention, verification, encryption, the lock, due
runs, restores that refuse to overwrite, and snapshots that writes cannot tear.

Strategies keep their repository in a local folder (the built-in target); backup_s3 runs
the same core against an S3 server in its own tests. Round trips across the databases
are in test_backups_round_trips.py.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from labvault.backups import due, dump, lock, reports, restore, runs
from labvault.backups.codec import BackupError
from labvault.db import utcnow
from labvault.errors import Conflict
from labvault.testing import run_backup, wait_for_backup, wait_until
from labvault.web.session import get_session

from tests.backup_lab import (
    backups_of,
    database_state,
    make_app,
    populate,
    restore_into,
    store_state,
    wipe_rows,
)
from tests.records import assert_error, create_item

KEY = "k" * 12 + "a-long-random-backup-key-0123"


@pytest.fixture
def site(tmp_path, make_database):
    """An app on a fresh SQLite database with a "nightly" strategy, not yet populated."""

    def make(kind: str = "sqlite", **strategy: Any) -> Any:
        return make_app(tmp_path / "site", make_database(kind), **strategy)

    return make


def run(app: Any, name: str = "nightly") -> dict[str, Any]:
    with app.app_context():
        return runs.run_strategy(get_session(), backups_of(app), name)


def repository_of(app: Any, name: str = "nightly") -> Any:
    with app.app_context():
        return backups_of(app).strategy(name).repository()


def target_folder(app: Any) -> Path:
    strategy = app.extensions["labvault"].settings["BACKUP_STRATEGIES"]["nightly"]
    return Path(strategy["target"]["path"])


def objects(app: Any, prefix: str) -> list[Path]:
    return sorted(p for p in (target_folder(app) / prefix).rglob("*") if p.is_file())


def upload(app: Any, user: Any, refcode: str, content: bytes, name: str = "x.dat") -> int:
    response = app.test_client().post(
        f"/items/{refcode}/files",
        data={"file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
        headers=user.headers,
    )
    assert response.status_code == 201, response.json
    file_id: int = response.json["id"]
    return file_id


def forget_file(app: Any, file_id: int) -> None:
    """Remove a file's rows, as `labvault files gc` does once nothing refers to it."""
    with app.extensions["labvault"].database.engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM item_files WHERE file_id = :f"), {"f": file_id})
        connection.execute(sa.text("DELETE FROM files WHERE id = :f"), {"f": file_id})


# --- settings ----------------------------------------------------------------------------


def test_strategies_are_checked_at_startup_with_their_key_paths(startup_problems, tmp_path):
    local = {"type": "local", "path": str(tmp_path)}

    def problems(**entry: Any) -> list[str]:
        return startup_problems(BACKUP_STRATEGIES={"daily": entry})

    assert problems(target=local, frequency="1d", retention=0) == [
        "BACKUP_STRATEGIES.daily.retention: Must be greater than or equal to 1 and less "
        "than or equal to 10000."
    ]
    assert problems(target=local, frequency="daily", retention=3) == [
        'BACKUP_STRATEGIES.daily.frequency: must be an interval like "30m", "12h", "1d" or "7d"'
    ]
    assert problems(frequency="1d", retention=3) == [
        "BACKUP_STRATEGIES.daily.target: Missing data for required field."
    ]
    assert problems(target={"type": "local"}, frequency="1d", retention=3) == [
        "BACKUP_STRATEGIES.daily.target.path: Missing data for required field."
    ]
    assert problems(target=local, frequency="1d", retention=3, encryption_key_env="1 x") == [
        "BACKUP_STRATEGIES.daily.encryption_key_env: must be an environment variable name"
    ]


def test_intervals_are_minutes_hours_days_or_weeks():
    assert due.interval("30m").total_seconds() == 1800
    assert due.interval("12h").total_seconds() == 12 * 3600
    assert due.interval("7d") == due.interval("1w")
    with pytest.raises(ValueError, match="not an interval"):
        due.interval("1y")


# --- deduplication and retention ------------------------------------------------------


def test_a_second_backup_of_unchanged_files_stores_only_a_new_dump(site, labvault_make_user):
    app = site()
    populate(app, labvault_make_user)

    first, second = run(app), run(app)

    assert (first["files"], first["files_uploaded"], first["files_reused"]) == (4, 4, 0)
    assert (second["files"], second["files_uploaded"], second["files_reused"]) == (4, 0, 4)
    assert second["bytes_uploaded"] == 0 and second["snapshot"] > first["snapshot"]
    assert len(objects(app, "contents")) == 4
    with app.app_context():
        listed = reports.snapshots_of(backups_of(app), "nightly")
    assert [s["snapshot"] for s in listed] == [first["snapshot"], second["snapshot"]]
    assert listed[0]["files"] == 4 and listed[0]["database"] == "sqlite"


def test_retention_removes_the_oldest_snapshots_then_contents_none_refers_to(
    site, labvault_make_user, tmp_path, make_database
):
    app = site(retention=2)
    populate(app, labvault_make_user, files=0)
    user = labvault_make_user(app)
    refcode = create_item(app.test_client(), user, name="holder")["refcode"]
    dropped = upload(app, user, refcode, b"only in the first snapshot" * 100)
    upload(app, user, refcode, b"in every snapshot" * 100)
    first = run(app)
    forget_file(app, dropped)
    second = run(app)
    states = {second["snapshot"]: database_state(app.extensions["labvault"].database.engine)}
    upload(app, user, refcode, b"only in the third snapshot" * 100)
    third = run(app)
    states[third["snapshot"]] = database_state(app.extensions["labvault"].database.engine)

    assert third["snapshots_removed"] == [first["snapshot"]] and third["contents_removed"] == 1
    assert second["snapshots_removed"] == [] and second["contents_removed"] == 0
    repository = repository_of(app)
    assert repository.snapshots() == [second["snapshot"], third["snapshot"]]
    assert len(objects(app, "contents")) == 2
    assert not (target_folder(app) / "snapshots" / first["snapshot"]).exists()
    for number, snapshot in enumerate(repository.snapshots()):
        other = make_app(tmp_path / f"restored-{number}", make_database("sqlite"), tables=False)
        source = restore.RepositorySource(repository, snapshot)
        restore_into(other, source, tmp_path / f"work-{number}")
        assert database_state(other.extensions["labvault"].database.engine) == states[snapshot]


def test_a_failed_backup_commits_nothing_and_removes_nothing(site, labvault_make_user):
    app = site(retention=1)
    populate(app, labvault_make_user, files=2)
    kept = run(app)
    store = Path(app.extensions["labvault"].settings["FILE_DIRECTORY"])
    victim = next(p for p in store.rglob("*") if p.is_file() and len(p.name) == 64)
    victim.chmod(0o644)
    victim.write_bytes(b"damaged on disk")
    wipe_sha = victim.name
    # a content the repository lacks, and damaged: found while it is copied
    repository = repository_of(app)
    for key in list(repository.target.list("contents/")):
        if key.endswith(wipe_sha):
            repository.target.delete(key)

    with pytest.raises(BackupError, match=f"content {wipe_sha} is damaged"):
        run(app)

    assert repository.snapshots() == [kept["snapshot"]]
    with app.app_context():
        state = reports.overview(get_session(), backups_of(app))[0]
    assert state["last_success_at"] is not None and "is damaged" in state["last_error"]
    assert not state["running"]


# --- verification ---------------------------------------------------------------------


def test_verify_reports_a_flipped_byte_in_a_stored_content_and_a_part(site, labvault_make_user):
    app = site()
    populate(app, labvault_make_user)
    snapshot = run(app)["snapshot"]
    with app.app_context():
        assert [r.problems for r in reports.verify(backups_of(app), "nightly", None)] == [[]]

    content = objects(app, "contents")[1]
    data = bytearray(content.read_bytes())
    data[len(data) // 2] ^= 0x01
    content.chmod(0o644)
    content.write_bytes(bytes(data))
    manifest = repository_of(app).manifest(snapshot)
    (chunk,) = manifest["parts"]["dump/items.jsonl"]["chunks"]  # a small table: one chunk
    part = target_folder(app) / "chunks" / chunk[0][:2] / chunk[0]
    part.chmod(0o644)
    part.write_bytes(part.read_bytes()[:-3])

    with app.app_context():
        (report,) = reports.verify(backups_of(app), "nightly", snapshot)
    assert len(report.problems) == 2, report.problems
    assert report.problems[0].startswith("part dump/items.jsonl: ")
    assert report.problems[1].startswith(f"content {content.name}")
    assert report.contents == 3


# --- encryption -----------------------------------------------------------------------


def test_encrypted_snapshots_restore_with_the_key_and_not_without(
    site, labvault_make_user, monkeypatch, tmp_path, make_database
):
    monkeypatch.setenv("LAB_BACKUP_KEY", KEY)
    app = site(encryption_key_env="LAB_BACKUP_KEY")
    populate(app, labvault_make_user)
    snapshot = run(app)["snapshot"]
    rows = database_state(app.extensions["labvault"].database.engine)
    files = store_state(tmp_path / "site" / "files")

    stored = [p for p in target_folder(app).rglob("*") if p.is_file()]
    assert len(stored) > 20
    for path in stored:
        data = path.read_bytes()
        if path.name == "repository.json":  # says it is encrypted, and holds a key check
            assert json.loads(data)["encrypted"] is True
            continue
        assert data.startswith(b"LVB1"), path  # sealed, not merely compressed
        with pytest.raises(zlib.error):
            zlib.decompress(data)
        for plaintext in (b"Ethanol", b"sample-000", "試料".encode(), b"labvault"):
            assert plaintext not in data
    names = {p.name for p in objects(app, "contents")}
    assert names and not names & set(files)  # content names are not their sha256s

    other = make_app(
        tmp_path / "restored",
        make_database("sqlite"),
        tables=False,
        encryption_key_env="LAB_BACKUP_KEY",
    )
    with other.app_context():
        repository = backups_of(other).strategy("nightly").repository()
        repository.open(create=False)
    restore_into(other, restore.RepositorySource(repository, snapshot), tmp_path / "work")
    assert database_state(other.extensions["labvault"].database.engine) == rows
    assert store_state(tmp_path / "restored" / "files") == files

    monkeypatch.setenv("LAB_BACKUP_KEY", KEY.replace("k", "q"))
    with other.app_context(), pytest.raises(BackupError, match="not the key this repository"):
        backups_of(other).strategy("nightly").repository().open(create=False)
    monkeypatch.delenv("LAB_BACKUP_KEY")
    with other.app_context(), pytest.raises(BackupError, match="LAB_BACKUP_KEY, which is not set"):
        backups_of(other).strategy("nightly").repository()


def test_a_repository_keeps_its_encryption(site, labvault_make_user, monkeypatch):
    app = site()
    run(app)
    monkeypatch.setenv("LAB_BACKUP_KEY", KEY)
    encrypted = make_app(
        target_folder(app).parent / "other", "sqlite://", encryption_key_env="LAB_BACKUP_KEY"
    )
    with encrypted.app_context():
        repository = backups_of(encrypted).strategy("nightly").repository()
    with pytest.raises(BackupError, match="the repository is not encrypted"):
        repository.open(create=True)


# --- the lock, due runs and the API -----------------------------------------------------


def test_two_runs_of_one_strategy_never_overlap(site, labvault_make_user):
    app = site()
    admin = labvault_make_user(app, role="admin")
    with app.app_context(), lock.strategy_lock(get_session(), "nightly"):
        response = app.test_client().post("/backups/nightly", headers=admin.headers)
        assert_error(response, 409)
        assert "is running already" in response.json["message"]
        with pytest.raises(Conflict):
            run(app)
    assert run(app)["snapshot"]


def test_a_lock_whose_holder_died_on_this_host_is_taken_over(site):
    app = site()
    with app.app_context():
        session = get_session()
        with lock.strategy_lock(session, "nightly"):
            pass
        session.execute(
            sa.text(
                "UPDATE backup_states SET lock_token = 'x', lock_holder = :h, "
                "lock_expires_at = '2999-01-01 00:00:00'"
            ),
            {"h": f"{os.uname().nodename}:999999999"},
        )
        session.commit()
    assert run(app)["snapshot"]
    # a holder killed but not yet reaped by its parent (a zombie) is gone too
    zombie = subprocess.Popen(["sleep", "60"])
    try:
        zombie.kill()
        state = Path(f"/proc/{zombie.pid}/stat")
        wait_until(lambda: state.read_text().rpartition(")")[2].split()[0] == "Z", 10)
        with app.app_context():
            session = get_session()
            session.execute(
                sa.text(
                    "UPDATE backup_states SET lock_token = 'x', lock_holder = :h, "
                    "lock_expires_at = '2999-01-01 00:00:00'"
                ),
                {"h": f"{os.uname().nodename}:{zombie.pid}"},
            )
            session.commit()
        assert run(app)["snapshot"]
    finally:
        zombie.wait()
    with app.app_context():
        session = get_session()
        session.execute(
            sa.text(
                "UPDATE backup_states SET lock_token = 'x', lock_holder = 'elsewhere:1', "
                "lock_expires_at = '2999-01-01 00:00:00'"
            )
        )
        session.commit()
    with pytest.raises(Conflict, match="elsewhere:1"):
        run(app)


def test_a_strategy_is_due_once_its_last_success_is_older_than_its_frequency(site):
    app = site()
    configured = app.extensions["labvault"].settings["BACKUP_STRATEGIES"]
    with app.app_context():
        assert due.due_strategies(get_session(), configured) == ["nightly"]
    run(app)
    with app.app_context():
        assert due.due_strategies(get_session(), configured) == []
        later = utcnow() + due.interval("1d")
        assert due.due_strategies(get_session(), configured, later) == ["nightly"]


def test_backups_api_lists_strategies_and_runs_one(site, labvault_make_user):
    app = site()
    client = app.test_client()
    admin, user = labvault_make_user(app, role="admin"), labvault_make_user(app)
    assert_error(client.get("/backups", headers=user.headers), 403)
    assert_error(client.post("/backups/nightly", headers=user.headers), 403)
    assert_error(client.post("/backups/weekly", headers=admin.headers), 404)

    listed = client.get("/backups", headers=admin.headers)
    assert listed.status_code == 200
    assert listed.json == [
        {
            "name": "nightly",
            "target": "local",
            "frequency": "1d",
            "retention": 3,
            "encrypted": False,
            "last_run_at": None,
            "last_success_at": None,
            "last_error": None,
            "last_report": None,
            "running": False,
            "job": None,
            "snapshots": [],
            "error": "backup strategy nightly has no repository yet",
        }
    ]
    assert_error(client.get("/backups/nightly", headers=user.headers), 403)
    assert_error(client.get("/backups/weekly", headers=admin.headers), 404)
    assert client.get("/backups/nightly", headers=admin.headers).json == listed.json[0]

    started = client.post("/backups/nightly", headers=admin.headers)
    assert started.status_code == 202, started.json  # the run goes on after the answer
    assert started.headers["Location"] == "/backups/nightly"
    assert started.json["running"] is True and started.json["last_run_at"]
    job = started.json["job"]  # the run is a job of its admin
    assert_error(client.get(f"/jobs/{job}", headers=user.headers), 404)
    first = wait_for_backup(client, admin.headers, "nightly")
    assert first["running"] is False and first["last_error"] is None and first["job"] is None
    record = client.get(f"/jobs/{job}", headers=admin.headers).json
    assert record["type"] == "backup" and record["payload"] == {"strategy": "nightly"}
    assert (record["state"], record["attempts"], record["user_id"]) == ("succeeded", 1, admin.id)
    assert record["result"] == first["last_report"]
    # a server restored from the snapshot takes up none of this one's jobs
    manifest = repository_of(app).manifest(record["result"]["snapshot"])
    assert "jobs" not in {table["name"] for table in manifest["tables"]}
    assert [s["snapshot"] for s in first["snapshots"]] == [first["last_report"]["snapshot"]]
    done = run_backup(client, admin.headers, "nightly")  # the same, then waits for it
    report = done["last_report"]
    assert report["strategy"] == "nightly" and report["files"] == 0
    listed = client.get("/backups", headers=admin.headers)
    assert listed.json == [done]
    assert len(done["snapshots"]) == 2 and done["error"] is None
    newest = done["snapshots"][-1]
    assert (newest["snapshot"], newest["rows"]) == (report["snapshot"], report["rows"])


# --- restores ----------------------------------------------------------------------------


def test_a_restore_refuses_what_is_not_empty_unless_forced(site, labvault_make_user, tmp_path):
    app = site()
    populate(app, labvault_make_user, files=2)
    snapshot = run(app)["snapshot"]
    rows = database_state(app.extensions["labvault"].database.engine)
    files = store_state(tmp_path / "site" / "files")
    user = labvault_make_user(app)
    refcode = create_item(app.test_client(), user, name="after the snapshot")["refcode"]
    upload(app, user, refcode, b"a file the snapshot lacks")
    repository = repository_of(app)

    with pytest.raises(BackupError, match="the database is not empty"):
        restore_into(app, restore.RepositorySource(repository, snapshot), tmp_path / "w1")
    wipe_rows(app.extensions["labvault"].database.engine)
    with pytest.raises(BackupError, match="is not empty: restore into an empty one"):
        restore_into(app, restore.RepositorySource(repository, snapshot), tmp_path / "w2")

    state = app.extensions["labvault"]
    with app.app_context():
        report = restore.restore(
            restore.RepositorySource(repository, snapshot),
            state.database.engine,
            app.extensions["labvault"].file_store,
            restore_migrations(state),
            tmp_path / "w3",
            force=True,
        )
    assert report.contents_removed == 1
    assert database_state(state.database.engine) == rows
    assert store_state(tmp_path / "site" / "files") == files


def restore_migrations(state: Any) -> Any:
    from labvault.cli.backups import AlembicMigrations

    return AlembicMigrations(state.settings["DATABASE_URL"])


@pytest.mark.parametrize("kind", ["sqlite", "mariadb", "postgresql"])
def test_writes_during_a_backup_are_all_in_it_or_all_out(
    kind, site, labvault_make_user, monkeypatch, tmp_path, make_database
):
    """Rows committed while the dump is read (an item with a file, here) are not in it,
    on every database: the tables are read in one transaction."""
    app = site(kind)
    populate(app, labvault_make_user, files=1)
    user = labvault_make_user(app)
    rows = database_state(app.extensions["labvault"].database.engine)
    written = []
    write_table = dump.write_table

    def write_while_dumping(connection: Any, table: Any, out: Any) -> int:
        count = write_table(connection, table, out)
        if not written:  # after the first table: another connection commits a new record
            refcode = create_item(app.test_client(), user, name="written meanwhile")["refcode"]
            written.append(upload(app, user, refcode, b"uploaded during the backup"))
        return count

    monkeypatch.setattr("labvault.backups.snapshot.write_table", write_while_dumping)
    report = run(app)

    assert written and report["files"] == 1
    other = make_app(tmp_path / "restored", make_database("sqlite"), tables=False)
    source = restore.RepositorySource(repository_of(app), report["snapshot"])
    restore_into(other, source, tmp_path / "work")
    assert database_state(other.extensions["labvault"].database.engine) == rows


def test_a_snapshot_keeps_the_config_without_secrets(site, tmp_path):
    app = site()
    with app.app_context():
        runs.create_archive(backups_of(app), tmp_path / "lab.tar.gz")
    source = restore.ArchiveSource(tmp_path / "lab.tar.gz")
    report = restore.read_snapshot(source, tmp_path / "parts", None, strict=True)
    source.close()
    config = json.loads((tmp_path / "parts" / "config.json").read_text())
    assert report.problems == [] and config["IDENTIFIER_PREFIX"] == "test"
    assert config["SECRET_KEY"] == "[hidden]"
    assert report.manifest["revision"] and report.manifest["labvault_version"]


def test_two_strategies_may_not_share_a_place(startup_problems, tmp_path):
    def strategy() -> dict[str, Any]:
        target = {"type": "local", "path": str(tmp_path / "backups")}
        return {"target": target, "frequency": "1d", "retention": 2}

    assert startup_problems(BACKUP_STRATEGIES={"a": strategy(), "b": strategy()}) == [
        "BACKUP_STRATEGIES.b.target: the same place as strategy a; give each strategy its "
        "own (its retention would remove the other's files)"
    ]


def test_verifying_every_snapshot_reads_shared_contents_once(site, labvault_make_user):
    app = site()
    populate(app, labvault_make_user, files=3)
    run(app)
    run(app)
    with app.app_context():
        read = reports.verify(backups_of(app), "nightly", None)
    parts = len(read[0].manifest["parts"])  # a dump part per table, contents, config
    assert [(r.contents, r.parts, r.problems) for r in read] == [(3, parts, []), (0, parts, [])]


def test_a_flipped_byte_anywhere_in_an_archive_is_reported_as_damage(site, labvault_make_user):
    import tarfile

    app = site()
    populate(app, labvault_make_user, files=2)
    folder = target_folder(app).parent
    with app.app_context():
        runs.create_archive(backups_of(app), folder / "lab.tar.gz")
    data = (folder / "lab.tar.gz").read_bytes()

    def problems(archive: bytes) -> list[str]:
        (folder / "damaged.tar.gz").write_bytes(archive)
        try:
            with app.app_context():
                return reports.verify_archive(folder / "damaged.tar.gz").problems
        except BackupError as error:
            return [error.message]

    assert problems(data) == []
    for position in range(0, len(data), len(data) // 40):
        damaged = bytearray(data)
        damaged[position] ^= 0xFF
        found = problems(bytes(damaged))
        # the first problem names the damage (others follow from it: parts then missing)
        assert found and "damaged" in found[0], (position, found)

    with tarfile.open(folder / "manifest.tar.gz", "w:gz") as tar:  # a manifest, not JSON
        info = tarfile.TarInfo("labvault-backup/manifest.json")
        info.size = 9
        tar.addfile(info, io.BytesIO(b"{not json"))
    with app.app_context(), pytest.raises(BackupError, match="its manifest is not JSON"):
        reports.verify_archive(folder / "manifest.tar.gz")
