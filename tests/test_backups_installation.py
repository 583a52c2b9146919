"""A server restored from another's backup keeps its own installation id, and its
strategies do not write into the other's repository until `labvault backup adopt` says
this server takes it over; `backup restore --latest` restores a strategy's newest
snapshot. Deployer flows run as subprocesses (tests.backup_lab.Site) on SQLite."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from labvault import migrations
from labvault.backups import restore, runs
from labvault.backups.dump import dumped_tables
from labvault.backups.installation import MANIFEST_KEY
from labvault.cli.backups import AlembicMigrations
from labvault.db import create_engine
from labvault.models import metadata
from labvault.web.session import get_session

from tests.backup_lab import Site, backups_of, make_app, populate, restore_into

SNAPSHOT = re.compile(r"snapshot (\d{8}T\d{6}\.\d{6}Z)")


def installation_of(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            ids = connection.execute(sa.text("SELECT installation_id FROM installation")).all()
    finally:
        engine.dispose()
    assert len(ids) == 1
    return str(ids[0][0])


def created(site: Site) -> str:
    """`backup create --strategy nightly` succeeds; the id of its snapshot."""
    done = site.run("backup", "create", "--strategy", "nightly")
    assert done.returncode == 0, done.stderr
    found = SNAPSHOT.search(done.stdout)
    assert found, done.stdout
    return found.group(1)


def manifest(app: Any, snapshot: str) -> dict[str, Any]:
    repository = backups_of(app).strategy("nightly").repository()
    repository.open(create=False)
    return repository.manifest(snapshot)


def test_a_backup_by_the_command_holds_every_table(lab_site):
    """`labvault backup create` in a process of its own, as cron runs it, snapshots every
    table, not only those of the models its command happened to import."""
    site = lab_site()
    snapshot = created(site)
    app = site.app()
    try:
        dumped = {table["name"] for table in manifest(app, snapshot)["tables"]}
    finally:
        app.extensions["labvault"].database.dispose()
    assert dumped == {table.name for table in dumped_tables(metadata)}
    assert {"inventory_imports", "inventory_links", "source_entries", "source_states"} <= dumped


def test_a_due_backup_by_the_command_holds_every_table(lab_site):
    """`labvault backup due` finding a strategy due, as cron runs it, snapshots every
    table too: the check for due strategies imports few models, the run all of them."""
    site = lab_site()
    done = site.run("backup", "due")
    assert done.returncode == 0, done.stderr
    found = SNAPSHOT.search(done.stdout)
    assert found, done.stdout
    app = site.app()
    try:
        dumped = {table["name"] for table in manifest(app, found.group(1))["tables"]}
    finally:
        app.extensions["labvault"].database.dispose()
    assert dumped == {table.name for table in dumped_tables(metadata)}
    assert {"inventory_imports", "inventory_links", "source_entries", "source_states"} <= dumped
    assert site.run("backup", "due").stdout == "no backup is due\n"


def refusal(strategy: str, snapshot: str, theirs: str, own: str) -> str:
    return (
        f"backup strategy {strategy}: the newest snapshot in its repository ({snapshot}) was "
        f"written by installation {theirs}, not by this one ({own}): is this server a copy "
        "restored from another's backup? It would write into that server's repository. "
        f"Give the strategy a place of its own (BACKUP_STRATEGIES.{strategy}.target), or, "
        f"if this server takes the repository over, run `labvault backup adopt {strategy}`"
    )


def test_a_restored_server_keeps_its_own_id_and_writes_into_the_repository_once_adopted(
    lab_site, make_database, labvault_make_user, tmp_path
):
    a = lab_site("a")
    repository = a.root / "repository"
    first, newest = created(a), created(a)
    b = Site(tmp_path / "b", make_database("sqlite"), repository=repository)

    restored = b.run("backup", "restore", "--strategy", "nightly", "--latest")
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout.startswith(f"restored snapshot {newest}: ") and first < newest
    a_id, b_id = installation_of(a.url), installation_of(b.url)
    assert a_id != b_id
    b_app = make_app(
        b.root / "site", b.url, tables=False, target={"type": "local", "path": str(repository)}
    )
    assert manifest(b_app, newest)[MANIFEST_KEY] == a_id

    # B's cron refuses, naming both installations and the way on
    due = b.run("backup", "due")
    assert due.returncode == 1
    assert due.stderr == f"nightly: failed: {refusal('nightly', newest, a_id, b_id)}\n"
    # so does the API, at once
    admin = labvault_make_user(b_app, role="admin")
    answer = b_app.test_client().post("/backups/nightly", headers=admin.headers)
    assert answer.status_code == 409, answer.json
    assert answer.json["message"] == refusal("nightly", newest, a_id, b_id)
    # and B wrote nothing into A's repository; A's own backups go on
    assert b.run("backup", "list").stdout.count("nightly") == 2
    a_later = created(a)

    adopted = b.run("backup", "adopt", "nightly")
    assert adopted.returncode == 0, adopted.stderr
    assert adopted.stdout == (
        f"nightly: this installation ({b_id}) takes over the repository of installation "
        f"{a_id} (newest snapshot {a_later}); its next backup goes on, and that "
        "installation's backups into it are refused from now on\n"
    )
    due = b.run("backup", "due")
    assert due.returncode == 0, due.stderr
    b_snapshot = SNAPSHOT.search(due.stdout).group(1)  # type: ignore[union-attr]
    assert manifest(b_app, b_snapshot)[MANIFEST_KEY] == b_id
    again = b.run("backup", "adopt", "nightly")
    assert again.stdout.startswith("nightly: nothing to adopt: the newest snapshot in its")

    # the repository is B's now: A is refused in turn, with B named
    taken = a.run("backup", "create", "--strategy", "nightly")
    assert taken.returncode == 1
    assert taken.stderr == f"nightly: failed: {refusal('nightly', b_snapshot, b_id, a_id)}\n"
    with b_app.app_context():
        events = b_app.test_client().get("/audit?action=backup.adopted", headers=admin.headers)
    assert [event["details"] for event in events.json] == [
        {"snapshot": a_later, "installation": a_id}
    ]
    b_app.extensions["labvault"].database.dispose()


def test_restore_latest_needs_a_strategy_with_snapshots_and_no_snapshot_argument(lab_site):
    site = lab_site(files=1)

    none = site.run("backup", "restore", "--strategy", "nightly", "--latest")
    assert none.returncode == 1
    assert none.stderr == "error: backup strategy nightly has no repository yet\n"
    created(site)
    (site.root / "repository" / "snapshots").rename(site.root / "elsewhere")
    (site.root / "repository" / "snapshots").mkdir()
    empty = site.run("backup", "restore", "--strategy", "nightly", "--latest")
    assert empty.returncode == 1
    assert empty.stderr == "error: backup strategy nightly has no snapshot to restore\n"

    both = site.run(
        "backup", "restore", "--strategy", "nightly", "--latest", "20261201T000000.000000Z"
    )
    assert both.returncode == 2
    assert "--latest takes the newest snapshot: give no SNAPSHOT with it" in both.stderr
    alone = site.run("backup", "restore", "--latest")
    assert alone.returncode == 2
    assert (
        "give --strategy NAME SNAPSHOT, or --from-archive FILE (or --strategy NAME --latest)"
        in (alone.stderr)
    )


def test_snapshots_older_than_installation_ids_restore_and_are_taken_over_silently(
    tmp_path, make_database, labvault_make_user
):
    old = make_app(tmp_path / "old", make_database("sqlite"))
    populate(old, labvault_make_user, files=1)
    with old.app_context():
        report = runs.run_strategy(get_session(), backups_of(old), "nightly")
    snapshot = report["snapshot"]
    repository = backups_of(old).strategy("nightly").repository()
    repository.open(create=False)
    written = repository.manifest(snapshot)
    del written[MANIFEST_KEY]  # as labvault wrote it before it recorded installations
    repository.commit(snapshot, written)

    other = make_app(
        tmp_path / "other",
        make_database("sqlite"),
        tables=False,
        target={"type": "local", "path": str(tmp_path / "repository")},
    )
    source = restore.RepositorySource(repository, snapshot)
    assert restore_into(other, source, tmp_path / "work").rows == report["rows"]
    with other.app_context():
        later = runs.run_strategy(get_session(), backups_of(other), "nightly")
    own = installation_of(other.extensions["labvault"].settings["DATABASE_URL"])
    assert manifest(other, later["snapshot"])[MANIFEST_KEY] == own
    for app in (old, other):
        app.extensions["labvault"].database.dispose()


def test_a_forced_restore_over_a_database_keeps_its_installation_id(
    tmp_path, make_database, labvault_make_user
):
    source_app = make_app(tmp_path / "a", make_database("sqlite"))
    populate(source_app, labvault_make_user, files=1)
    with source_app.app_context():
        archive = runs.create_archive(backups_of(source_app), tmp_path / "a.tar.gz")
    url = make_database("sqlite")
    migrations.upgrade(url)  # as `labvault db upgrade` makes it: with an installation id
    target = make_app(tmp_path / "b", url, tables=False)
    populate(target, labvault_make_user, files=1)  # rows: the restore drops every table
    before = installation_of(url)
    theirs = installation_of(source_app.extensions["labvault"].settings["DATABASE_URL"])
    assert before != theirs

    state = target.extensions["labvault"]
    source = restore.ArchiveSource(Path(archive["path"]))
    assert source.manifest[MANIFEST_KEY] == theirs  # an archive names its installation too
    try:
        restore.restore(
            source,
            state.database.engine,
            state.file_store,
            AlembicMigrations(url),
            tmp_path / "work",
            force=True,
        )
    finally:
        source.close()
    assert installation_of(url) == before
    for app in (source_app, target):
        app.extensions["labvault"].database.dispose()
