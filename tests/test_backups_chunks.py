"""A repository keeps dump parts as chunks: unchanged rows cost nothing the next time.

Each table's part is cut into chunks at rows whose primary key says so (their bounds
stay put while the rows do), stored once by their hash; a table whose rows did not
change since the newest snapshot keeps that snapshot's part without being written
again. Snapshots written before chunks (format 1: whole parts under the snapshot) still
verify, restore and are collected. A restore places files several at once, while the
database loads.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from labvault.backups import chunking, dump, reports, restore, runs, snapshot
from labvault.backups.codec import BackupError
from labvault.backups.manifest import FORMAT_VERSION
from labvault.backups.repository import MANIFEST
from labvault.builtins.store_local import LocalFileStore
from labvault.models import metadata
from labvault.web.session import get_session

from tests.backup_lab import (
    backups_of,
    database_state,
    make_app,
    populate,
    restore_into,
    store_state,
)

KEY = "k" * 12 + "a-long-random-backup-key-0123"


def run(app: Any) -> dict[str, Any]:
    with app.app_context():
        return runs.run_strategy(get_session(), backups_of(app), "nightly")


def repository_of(app: Any) -> Any:
    with app.app_context():
        repository = backups_of(app).strategy("nightly").repository()
    repository.open(create=False)
    return repository


def chunk_files(folder: Path) -> set[str]:
    return {path.name for path in (folder / "chunks").rglob("*") if path.is_file()}


def parts(app: Any, snapshot_id: str) -> dict[str, Any]:
    return repository_of(app).manifest(snapshot_id)["parts"]


def add_audit_rows(app: Any, count: int) -> None:
    """``count`` audit events of about 400 bytes each (a table of several chunks)."""
    from labvault.audit.models import AuditEvent
    from labvault.db import utcnow

    rows = [
        {
            "at": utcnow(),
            "action": "test.bulk",
            "actor": "cli",
            "target": f"row {number}",
            "details": {"text": hashlib.sha256(str(number).encode()).hexdigest() * 5},
        }
        for number in range(count)
    ]
    with app.extensions["labvault"].database.engine.begin() as connection:
        connection.execute(sa.insert(AuditEvent), rows)


@pytest.mark.parametrize("kind", ["sqlite", "mariadb", "postgresql"])
def test_an_unchanged_backup_stores_no_chunk_of_an_unchanged_table(
    kind, tmp_path, make_database, labvault_make_user, monkeypatch
):
    app = make_app(tmp_path / "site", make_database(kind))
    populate(app, labvault_make_user, files=2)
    state = database_state(app.extensions["labvault"].database.engine)
    first = run(app)
    before = chunk_files(tmp_path / "repository")
    written: list[str] = []
    write_table = dump.write_table

    def counting(connection: Any, table: sa.Table, out: Any) -> int:
        written.append(table.name)
        return write_table(connection, table, out)

    monkeypatch.setattr(snapshot, "write_table", counting)

    second = run(app)

    # the first run's audit event (backup.succeeded) is the one change: its table only
    assert written == ["audit_events"]
    assert second["chunks_uploaded"] == 1 and second["files_uploaded"] == 0
    assert second["chunks_reused"] == first["chunks_uploaded"] + first["chunks_reused"] - 1
    assert len(chunk_files(tmp_path / "repository") - before) == 1
    old, new = parts(app, first["snapshot"]), parts(app, second["snapshot"])
    assert {name for name in new if new[name] != old[name]} == {"dump/audit_events.jsonl"}
    other = make_app(tmp_path / "restored", make_database("sqlite"), tables=False)
    source = restore.RepositorySource(repository_of(app), second["snapshot"])
    restore_into(other, source, tmp_path / "work")
    assert database_state(other.extensions["labvault"].database.engine) == state
    with app.app_context():
        verified = reports.verify(backups_of(app), "nightly", None)
    assert [report.problems for report in verified] == [[], []]


def test_one_changed_row_stores_the_chunk_it_is_in(tmp_path, make_database, labvault_make_user):
    app = make_app(tmp_path / "site", make_database("sqlite"))
    populate(app, labvault_make_user, files=0)
    add_audit_rows(app, 6000)
    first = run(app)
    chunks_before = parts(app, first["snapshot"])["dump/audit_events.jsonl"]["chunks"]
    assert len(chunks_before) >= 4, "the table should span several chunks"
    engine = app.extensions["labvault"].database.engine
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE audit_events SET target = 'edited' WHERE target = 'row 2500'")
        )

    second = run(app)

    chunks_after = parts(app, second["snapshot"])["dump/audit_events.jsonl"]["chunks"]
    changed = [
        i for i, (a, b) in enumerate(zip(chunks_before, chunks_after, strict=True)) if a != b
    ]
    # the edited row's chunk, and the last (the first run's audit event was appended)
    assert len(chunks_after) == len(chunks_before)
    assert len(changed) == 2 and changed[-1] == len(chunks_after) - 1, changed
    assert second["chunks_uploaded"] == 2


def test_chunk_bounds_stay_where_they_were_when_a_row_changes():
    def cut(lines: list[bytes]) -> list[chunking.Chunk]:
        chunker = chunking.Chunker()
        for number, line in enumerate(lines):
            chunker.add(line, str(number).encode())
        return chunker.close()

    rows = [b"%d,%s\n" % (n, b"x" * (100 + n % 300)) for n in range(20_000)]
    edited = list(rows)
    edited[9000] = b"9000,edited and a good deal longer than it was\n"
    before, after = cut(rows), cut(edited)

    assert len(before) > 5
    assert sum(chunk.size for chunk in before) == len(b"".join(rows))
    assert all(chunking.MIN_CHUNK <= chunk.size <= chunking.MAX_CHUNK for chunk in before[:-1])
    pairs = zip(before, after, strict=True)
    differing = [i for i, (a, b) in enumerate(pairs) if (a.sha256, a.size) != (b.sha256, b.size)]
    assert len(differing) == 1, differing
    assert [c.size for c in before[differing[0] + 1 :]] == [
        c.size for c in after[differing[0] + 1 :]
    ]
    data = b"".join(rows)
    for chunk in before:
        piece = data[chunk.offset : chunk.offset + chunk.size]
        assert hashlib.sha256(piece).hexdigest() == chunk.sha256


def test_ten_unchanged_backups_take_little_more_room_than_one(
    tmp_path, make_database, labvault_make_user
):
    app = make_app(tmp_path / "site", make_database("sqlite"), retention=10)
    populate(app, labvault_make_user, files=1)
    rate_limits = metadata.tables["rate_limits"]
    rows = [
        {"key_hash": hashlib.sha256(b"%d" % n).hexdigest(), "tokens": n / 7, "updated": n / 3,
         "full_at": n * 1.5}
        for n in range(20_000)
    ]  # fmt: skip
    with app.extensions["labvault"].database.engine.begin() as connection:
        connection.execute(sa.insert(rate_limits), rows)  # a table of several chunks
    run(app)
    one = sum(p.stat().st_size for p in (tmp_path / "repository").rglob("*") if p.is_file())

    for _ in range(10):
        run(app)

    ten = sum(p.stat().st_size for p in (tmp_path / "repository").rglob("*") if p.is_file())
    assert ten < 1.2 * one, (ten, one)


# --- snapshots written before chunks --------------------------------------------------


def write_format_1(app: Any) -> str:
    """A snapshot as labvault wrote it before chunks: each part a whole object under the
    snapshot, a manifest of format 1."""
    with app.app_context():
        backups = backups_of(app)
        repository = backups.strategy("nightly").repository()
        repository.open(create=True)
        with snapshot.temporary_folder() as folder:
            taken = snapshot.dump_database(
                backups.engine, {}, Path(folder), metadata=backups.metadata
            )
            repository.put_contents(taken.contents(), backups.store.open, lambda _: None)
            for part in taken.parts:
                assert part.path is not None
                with part.path.open("rb") as stream:
                    repository.put_part(taken.manifest["snapshot"], part.name, stream)
            taken.manifest["encrypted"] = repository.encrypted
            repository.commit(taken.manifest["snapshot"], taken.manifest)
    manifest = repository.manifest(taken.manifest["snapshot"])
    assert manifest["format_version"] == FORMAT_VERSION
    assert all("chunks" not in info for info in manifest["parts"].values())
    return str(taken.manifest["snapshot"])


@pytest.mark.parametrize("encrypted", [False, True])
def test_a_snapshot_of_format_1_verifies_restores_and_is_collected(
    encrypted, tmp_path, make_database, labvault_make_user, monkeypatch
):
    strategy: dict[str, Any] = {"retention": 1}
    if encrypted:
        monkeypatch.setenv("LAB_BACKUP_KEY", KEY)
        strategy["encryption_key_env"] = "LAB_BACKUP_KEY"
    app = make_app(tmp_path / "site", make_database("sqlite"), **strategy)
    populate(app, labvault_make_user, files=2)
    state = database_state(app.extensions["labvault"].database.engine)
    files = store_state(app.extensions["labvault"].settings["FILE_DIRECTORY"])
    old = write_format_1(app)
    with app.app_context():
        (verified,) = reports.verify(backups_of(app), "nightly", old)
    assert verified.problems == [] and verified.parts == len(parts(app, old))

    other = make_app(tmp_path / "restored", make_database("sqlite"), tables=False)
    restore_into(other, restore.RepositorySource(repository_of(app), old), tmp_path / "work")
    assert database_state(other.extensions["labvault"].database.engine) == state
    assert store_state(other.extensions["labvault"].settings["FILE_DIRECTORY"]) == files

    new = run(app)  # into the same repository, chunked; retention 1 removes the old one
    assert new["snapshots_removed"] == [old] and new["chunks_reused"] == 0
    assert not (tmp_path / "repository" / "snapshots" / old).exists()
    assert sorted(p.name for p in (tmp_path / "repository" / "snapshots").iterdir()) == [
        new["snapshot"]
    ]
    assert {
        p.name for p in (tmp_path / "repository" / "snapshots" / new["snapshot"]).iterdir()
    } == {MANIFEST}


# --- sealed chunks ----------------------------------------------------------------------


def test_sealed_chunks_are_named_by_an_hmac_and_open_only_in_their_place(
    tmp_path, make_database, labvault_make_user, monkeypatch
):
    monkeypatch.setenv("LAB_BACKUP_KEY", KEY)
    app = make_app(tmp_path / "site", make_database("sqlite"), encryption_key_env="LAB_BACKUP_KEY")
    populate(app, labvault_make_user, files=1)
    taken = run(app)["snapshot"]
    listed = parts(app, taken)
    sha256s = {sha256 for info in listed.values() for sha256, _ in info["chunks"]}
    stored = sorted(p for p in (tmp_path / "repository" / "chunks").rglob("*") if p.is_file())
    assert stored and not {p.name for p in stored} & sha256s, "a chunk is named by its sha256"

    items = repository_of(app).chunk_key(listed["dump/items.jsonl"]["chunks"][0][0])
    users = repository_of(app).chunk_key(listed["dump/users.jsonl"]["chunks"][0][0])
    target = tmp_path / "repository"
    (target / items).chmod(0o644)
    (target / items).write_bytes((target / users).read_bytes())  # a valid object, moved

    with app.app_context():
        (report,) = reports.verify(backups_of(app), "nightly", taken)
    assert len(report.problems) == 1, report.problems
    assert report.problems[0].startswith("part dump/items.jsonl: it does not open")


# --- restoring in parallel --------------------------------------------------------------


def test_a_restore_places_every_file_several_at_once(
    tmp_path, make_database, labvault_make_user, monkeypatch
):
    app = make_app(tmp_path / "site", make_database("sqlite"))
    populate(app, labvault_make_user, files=12, file_size=300_000)
    files = store_state(app.extensions["labvault"].settings["FILE_DIRECTORY"])
    taken = run(app)["snapshot"]
    threads: set[str] = set()
    store = LocalFileStore.store

    def noting(self: LocalFileStore, stream: Any, **options: Any) -> Any:
        threads.add(threading.current_thread().name)
        return store(self, stream, **options)

    monkeypatch.setattr(LocalFileStore, "store", noting)
    other = make_app(tmp_path / "restored", make_database("sqlite"), tables=False)

    report = restore_into(
        other, restore.RepositorySource(repository_of(app), taken), tmp_path / "work"
    )

    assert report.files == len(files) >= 12
    assert store_state(other.extensions["labvault"].settings["FILE_DIRECTORY"]) == files
    assert len(threads) > 1, threads


def test_files_are_placed_while_the_database_loads_and_its_rows_wait_for_them(
    tmp_path, make_database, labvault_make_user, monkeypatch
):
    app = make_app(tmp_path / "site", make_database("sqlite"))
    populate(app, labvault_make_user, files=3)
    taken = run(app)["snapshot"]
    damaged = sorted((tmp_path / "repository" / "contents").rglob("*"))[-1]
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0x01
    damaged.chmod(0o644)
    damaged.write_bytes(bytes(data))
    loading = threading.Event()
    load_table, store = restore.load_table, LocalFileStore.store

    def loading_rows(*arguments: Any) -> int:
        loading.set()
        return load_table(*arguments)

    def placing_while_loading(self: LocalFileStore, stream: Any, **options: Any) -> Any:
        assert loading.wait(10), "a file was placed before the database began to load"
        return store(self, stream, **options)

    monkeypatch.setattr(restore, "load_table", loading_rows)
    monkeypatch.setattr(LocalFileStore, "store", placing_while_loading)
    other = make_app(tmp_path / "restored", make_database("sqlite"), tables=False)

    with pytest.raises(BackupError, match=f"content {damaged.name}"):
        restore_into(other, restore.RepositorySource(repository_of(app), taken), tmp_path / "w")
    restored = database_state(other.extensions["labvault"].database.engine)
    assert restored and not any(restored.values())  # the tables, none of the rows


def written_bytes() -> int:
    """Bytes this process has passed to write calls so far."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError("no wchar in /proc/self/io")


def test_a_restore_into_sqlite_writes_the_rows_once(tmp_path, make_database):
    app = make_app(tmp_path / "site", make_database("sqlite"))
    add_audit_rows(app, 20_000)  # about 8 MB
    taken = run(app)["snapshot"]
    url = make_database("sqlite")
    other = make_app(tmp_path / "restored", url, tables=False)
    before = written_bytes()

    restore_into(other, restore.RepositorySource(repository_of(app), taken), tmp_path / "w")

    written = written_bytes() - before
    parts = sum(path.stat().st_size for path in (tmp_path / "w").rglob("*") if path.is_file())
    database = Path(sa.make_url(url).database or "").stat().st_size
    assert written < parts + 1.5 * database
