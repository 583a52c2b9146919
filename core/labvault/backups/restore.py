"""Restoring a snapshot, read through a source (:mod:`~labvault.backups.reading`).

A restore goes into an empty database (no tables, or labvault's tables without rows)
and an empty file store unless forced. The parts are read first; then the contents are
placed (several at once, in threads) while the schema is made at the snapshot's
migration revision and every table is loaded in one transaction, which commits only once
every content is in place and checked: the file store keeps contents by hash, so a
failed restore leaves nothing the database points to wrongly. Over a database with rows
(forced), the contents are all placed before the database is touched. Then the schema is
upgraded to this labvault's revision. The database keeps its own installation id
(:mod:`~labvault.backups.installation`), never the snapshot's.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa

from labvault import search
from labvault.backups.archive import MANIFEST_MEMBER
from labvault.backups.codec import BackupError, chunk_stream, read_chunks
from labvault.backups.dump import TablePart, dumped_tables, lines, load_table
from labvault.backups.installation import keep_installation_id, known_installation_id
from labvault.backups.manifest import ForgedSnapshot, table_part
from labvault.backups.reading import (
    READING,
    ArchiveSource,
    ReadReport,
    RepositorySource,
    Source,
    read_contents,
    read_parts,
    read_snapshot,
)
from labvault.backups.snapshot import Progress, no_progress
from labvault.db import WRITE_OPTION
from labvault.plugin import FileStore


class Migrations(Protocol):
    """The schema's migrations, as the restore needs them (the CLI passes Alembic's)."""

    def upgrade(self, revision: str) -> None: ...

    def remove_all(self) -> None:
        """Drop every table of labvault's (downgrade to nothing)."""
        ...

    def knows(self, revision: str) -> bool:
        """Whether ``revision`` is one of this labvault's migrations."""
        ...

    @property
    def metadata(self) -> sa.MetaData:
        """Every table of the schema they make (all the models')."""
        ...


@dataclass
class RestoreReport:
    snapshot: str
    tables: int = 0
    rows: int = 0
    files: int = 0
    bytes: int = 0
    contents_removed: int = 0


#: The stage of the progress of loading the rows.
LOADING = "loading the database"


def _load_part(connection: sa.Connection, folder: Path, name: str, progress: Progress) -> int:
    """Load the part of table ``name``; its row count."""
    with (folder / table_part(name)).open("rb") as stream:
        part = TablePart(lines(read_chunks(stream)))
        if part.name != name:
            raise ForgedSnapshot(f"the part of table {name} is {part.name}'s")
        return load_table(connection, part, lambda rows: progress(LOADING, rows, 0))


@contextmanager
def _in_the_background(work: Callable[[threading.Event], None]) -> Iterator[Future[None]]:
    """``work(stop)`` in a thread of its own; leaving the block waits for it and raises
    what it raised. Leaving with an error sets ``stop`` first, and what the work raised
    then is dropped (the error that left the block is the one to tell)."""
    stop = threading.Event()
    with ThreadPoolExecutor(1, thread_name_prefix="backup-restore") as pool:
        future = pool.submit(work, stop)
        try:
            yield future
        except BaseException:
            stop.set()
            raise
        future.result()


@contextmanager
def _writer(engine: sa.Engine) -> Iterator[sa.Connection]:
    """The connection that loads the rows. On SQLite its transaction writes the pages
    into the database file, with a rollback journal of the few it had, rather than into
    the WAL and then again into the file at the checkpoint: the rows of a restore are
    written once (100,000 items: half the CPU of their INSERTs and commit). A rollback
    journal is as atomic as the WAL: a restore that stops half way is taken back, by the
    next connection if the process died. SQLite leaves the WAL only while no other
    connection has the database open (this engine's idle ones are closed first); with
    another one open, the WAL stays. The database is in WAL again at the end."""
    if engine.dialect.name != "sqlite":
        with engine.connect().execution_options(**{WRITE_OPTION: True}) as connection:
            yield connection
        return
    engine.dispose()
    with engine.connect().execution_options(**{WRITE_OPTION: True}) as connection:
        driver = connection.connection.dbapi_connection
        assert driver is not None  # checked out of the pool just now
        in_place = _set_journal(driver, "DELETE")
        try:
            yield connection
        finally:
            if in_place:
                _set_journal(driver, "WAL")


def _set_journal(driver: Any, mode: str) -> bool:
    """Set SQLite's journal mode (outside a transaction), not waiting for a lock;
    whether it is set (with another connection open, SQLite keeps the WAL)."""
    (busy,) = driver.execute("PRAGMA busy_timeout").fetchone()
    driver.execute("PRAGMA busy_timeout=0")
    try:
        (now,) = driver.execute(f"PRAGMA journal_mode={mode}").fetchone()
    except sqlite3.OperationalError:  # locked
        return False
    finally:
        driver.execute(f"PRAGMA busy_timeout={busy}")
    # a rollback journal is synced at every step that keeps the database whole
    driver.execute("PRAGMA synchronous=" + ("FULL" if mode == "DELETE" else "NORMAL"))
    return bool(now.lower() == mode.lower())


@contextmanager
def _indexes_at_the_end(connection: sa.Connection, tables: list[str]) -> Iterator[None]:
    """Drop the secondary indexes of ``tables`` for the block and make them again at its
    end: SQLite builds an index on rows already there by sorting them once, rather than
    inserting into it row by row (100,000 items have 7 indexes besides their key). In the
    caller's transaction (SQLite's DDL is transactional), so a failure takes the drop
    back too. Other databases keep their indexes: on MariaDB a DROP INDEX commits."""
    if connection.dialect.name != "sqlite":
        yield
        return
    rows = connection.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        "AND tbl_name IN (SELECT value FROM json_each(?))",
        (json.dumps(tables),),
    ).all()
    quote = connection.dialect.identifier_preparer.quote
    for name, _ in rows:
        connection.exec_driver_sql(f"DROP INDEX {quote(name)}")
    yield
    for _, sql in rows:
        connection.exec_driver_sql(sql)


def _together(progress: Progress, totals: dict[str, int]) -> Progress:
    """One progress of stages that run at once (each of ``totals``: its stage's total):
    reported as the stage "restoring", in thousandths of the whole, each stage weighing
    the same."""
    done = dict.fromkeys(totals, 0)
    reported = 0
    lock = threading.Lock()

    def report(stage: str, amount: int, _total: int) -> None:
        nonlocal reported
        with lock:
            done[stage] += amount
            now = sum(
                PERMILLE * min(done[name], total) // max(total, 1) // len(totals)
                for name, total in totals.items()
            )
            step, reported = now - reported, now
            if step > 0:
                progress("restoring", step, PERMILLE)

    return report


PERMILLE = 1000


def database_state(engine: sa.Engine, metadata: sa.MetaData) -> tuple[bool, bool, str | None]:
    """(has tables, has rows in ``metadata``'s tables, revision) of the database."""
    names = set(sa.inspect(engine).get_table_names())
    if not names:
        return False, False, None
    with engine.connect() as connection:
        revision = None
        if "alembic_version" in names:
            revision = connection.execute(
                sa.text("SELECT version_num FROM alembic_version")
            ).scalar()
        rows = any(
            connection.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first()
            for table in dumped_tables(metadata)
            if table.name in names
        )
    return True, rows, revision


def restore(
    source: Source,
    engine: sa.Engine,
    store: FileStore,
    migrations: Migrations,
    folder: Path,
    *,
    force: bool = False,
    progress: Progress = no_progress,
) -> RestoreReport:
    manifest = source.manifest
    report = RestoreReport(manifest["snapshot"])
    if not migrations.knows(manifest["revision"]):
        raise BackupError(
            f"the snapshot was taken by labvault {manifest.get('labvault_version', '?')}, "
            f"whose database schema (revision {manifest['revision']}) this version does not "
            "know: restore it with that version or a later one"
        )
    has_tables, has_rows, revision = database_state(engine, migrations.metadata)
    if has_rows and not force:
        raise BackupError(
            "the database is not empty: restore into a new database, or pass --force to "
            "replace everything in it"
        )
    if next(store.list(), None) is not None and not force:
        raise BackupError(
            f"the file store {store.location} is not empty: restore into an empty one, or pass "
            "--force to replace its contents"
        )

    def place(_sha256: str, chunks: Iterator[bytes]) -> tuple[str, int]:
        stored = store.store(chunk_stream(chunks))  # hashes what it stores
        return stored.sha256, stored.size

    read = ReadReport(manifest)
    listed = read_parts(source, folder, read, strict=True)
    assert listed is not None  # strict: raised otherwise
    parts_bytes = read.bytes
    tables = manifest["tables"]
    total_rows = sum(table["rows"] for table in tables)
    progress = _together(progress, {READING: sum(size for _, size in listed), LOADING: total_rows})

    def place_all(stop: threading.Event) -> None:
        read_contents(source, listed, place, read, True, progress, stop=stop)

    # The contents are placed while the database loads; its rows are committed only
    # once every content is in place, so a failure leaves no row pointing to a missing
    # file. Over a database with rows (forced) nothing is changed before that.
    with _in_the_background(place_all) as placed:
        if has_rows:
            placed.result()
        own = known_installation_id(engine)  # the snapshot's installation is another's
        if has_tables and (has_rows or revision != manifest["revision"]):
            migrations.remove_all()
        migrations.upgrade(manifest["revision"])
        with _writer(engine) as connection, connection.begin():
            names = [table["name"] for table in tables]
            with search.indexed_at_the_end(connection), _indexes_at_the_end(connection, names):
                for table in tables:
                    report.rows += _load_part(connection, folder, table["name"], progress)
                    report.tables += 1
                    if placed.done():
                        placed.result()  # a damaged content stops the load at once
            placed.result()
    report.files, report.bytes = read.contents, read.bytes - parts_bytes
    migrations.upgrade("head")
    keep_installation_id(engine, own)
    if force:
        keep = {sha256 for sha256, _ in listed}
        for sha256 in [info.sha256 for info in store.list()]:
            if sha256 not in keep and store.delete(sha256):
                report.contents_removed += 1
    return report


__all__ = [
    "MANIFEST_MEMBER",
    "ArchiveSource",
    "Migrations",
    "ReadReport",
    "RepositorySource",
    "RestoreReport",
    "read_snapshot",
    "restore",
]
