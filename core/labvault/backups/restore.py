"""Reading a snapshot back: verifying every part and content, and restoring it.

A snapshot is read through a *source* (a repository's snapshot, or an archive) as its
manifest, then its parts (each checked against the manifest's sha256 and size), then
its contents in the order of its contents list (each checked against its own sha256).
Verification reads everything and reports each problem; a restore stops at the first.

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

import sqlite3
import threading
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa

from labvault import search
from labvault.backups import codec
from labvault.backups.archive import MANIFEST_MEMBER, ArchiveReader
from labvault.backups.codec import BackupError, Digest, chunk_stream, read_chunks
from labvault.backups.dump import TablePart, contents_list, dumped_tables, lines, load_table
from labvault.backups.installation import keep_installation_id, known_installation_id
from labvault.backups.manifest import ForgedSnapshot, table_part
from labvault.backups.repository import CONTENTS, CONTENTS_PART, Repository
from labvault.backups.snapshot import Progress, locked, no_progress
from labvault.db import WRITE_OPTION, Base
from labvault.files.storage import FileStore

#: on_content(sha256, chunks): do something with the bytes of the content listed as
#: ``sha256`` (every chunk), and return the sha256 and size of what they were; called from
#: several threads at once for a source with ``parallel`` > 1.
OnContent = Callable[[str, Iterator[bytes]], tuple[str, int]]
#: Contents a repository's snapshot is read (and a restore places them) at once.
PARALLEL_CONTENTS = 4
#: The stage of the progress of reading the contents.
READING = "reading files"


class Source(Protocol):
    """A snapshot being read; its ``manifest`` was checked as it entered
    (:func:`labvault.backups.manifest.checked_manifest`), and so were the names of its
    parts. Its contents may be read ``parallel`` at once (an archive: one after another,
    as its members follow each other)."""

    manifest: dict[str, Any]
    parallel: int

    def parts(self) -> Iterator[tuple[str, Iterator[bytes]]]: ...

    def contents(self, listed: Iterator[tuple[str, int]]) -> Iterator[tuple[str, Iterator[bytes]]]:
        """(sha256, chunks) of each listed content, in the list's order."""
        ...

    def close(self) -> None: ...


class RepositorySource:
    #: contents placed at once: reading, decompressing and writing each file (fsync)
    #: leave the GIL, so a restore waits on several at a time rather than on each
    parallel = PARALLEL_CONTENTS

    def __init__(self, repository: Repository, snapshot: str) -> None:
        self.repository = repository
        self.snapshot = snapshot
        self.manifest = repository.manifest(snapshot)

    def parts(self) -> Iterator[tuple[str, Iterator[bytes]]]:
        for name, info in self.manifest["parts"].items():
            yield name, self.repository.part(self.snapshot, name, info)

    def contents(self, listed: Iterator[tuple[str, int]]) -> Iterator[tuple[str, Iterator[bytes]]]:
        for sha256, _ in listed:
            yield sha256, self.repository.get(self.repository.content_key(sha256))

    def close(self) -> None:
        pass


class ArchiveSource:
    parallel = 1

    def __init__(self, path: Path) -> None:
        self.reader = ArchiveReader(path)
        self.manifest = self.reader.manifest
        self._members = self.reader.members()
        self._pending: tuple[str, Iterator[bytes]] | None = None

    def parts(self) -> Iterator[tuple[str, Iterator[bytes]]]:
        for name, chunks in self._members:
            if name.startswith(CONTENTS):
                self._pending = name, chunks
                return
            yield name, chunks

    def contents(self, listed: Iterator[tuple[str, int]]) -> Iterator[tuple[str, Iterator[bytes]]]:
        members = self._members
        if self._pending is not None:
            members = _prepend(self._pending, members)
        for sha256, _ in listed:
            member = next(members, None)
            if member is None:
                # tar reads a damaged header as the end of the archive
                raise BackupError(
                    f"the archive is damaged or cut short: it ends before content {sha256}"
                )
            name, chunks = member
            if name != f"{CONTENTS}{sha256[:2]}/{sha256}":
                raise BackupError(
                    f"the archive is damaged: it holds {name} where content {sha256} belongs"
                )
            yield sha256, chunks
        if next(members, None) is not None:
            raise BackupError("the archive is damaged: it holds more than its contents list names")

    def close(self) -> None:
        self.reader.close()


def _prepend(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


@dataclass
class ReadReport:
    manifest: dict[str, Any]
    parts: int = 0
    contents: int = 0
    bytes: int = 0
    problems: list[str] = field(default_factory=list)


def read_snapshot(
    source: Source,
    folder: Path,
    on_content: OnContent | None,
    *,
    strict: bool,
    progress: Progress = no_progress,
    skip: set[str] | None = None,
) -> ReadReport:
    """Read every part (into ``folder``) and every content of ``source``,
    checking each. ``strict`` raises at the first problem; otherwise each is reported.
    Contents in ``skip`` are not read again (they were checked already: a repository's
    snapshots share them); each content read is added to it."""
    report = ReadReport(source.manifest)
    listed = _read_parts(source, folder, report, strict)
    if listed is not None:
        _read_contents(source, listed, on_content, report, strict, progress, skip)
    return report


def _problem(report: ReadReport, strict: bool, text: str) -> None:
    if strict:
        raise BackupError(text)
    report.problems.append(text)


def _read_parts(
    source: Source, folder: Path, report: ReadReport, strict: bool
) -> list[tuple[str, int]] | None:
    """Read and check every part into ``folder``; the contents list (None: it cannot be
    read)."""
    expected: dict[str, Any] = dict(source.manifest["parts"])
    for name, chunks in source.parts():
        if name not in expected:
            _problem(report, strict, f"part {name} is not in the manifest")
            continue
        info = expected.pop(name)
        digest = Digest()
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with path.open("wb") as out:
                for chunk in digest.feed(chunks):
                    out.write(chunk)
        except codec.DamagedObject as error:
            _problem(report, strict, f"part {name}: {error}")
            continue
        report.parts += 1
        report.bytes += digest.size
        if (digest.hexdigest, digest.size) != (info["sha256"], info["size"]):
            _problem(report, strict, f"part {name} is damaged: its checksum is not the manifest's")
            path.unlink()
    for name in expected:
        _problem(report, strict, f"part {name} is missing")
    if not (folder / CONTENTS_PART).is_file():
        _problem(report, strict, "the snapshot's contents list cannot be read")
        return None
    return list(_contents_of(folder))


def _read_contents(
    source: Source,
    listed: list[tuple[str, int]],
    on_content: OnContent | None,
    report: ReadReport,
    strict: bool,
    progress: Progress,
    skip: set[str] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Read and check each ``listed`` content (see :func:`read_snapshot`); none is
    begun once ``stop`` is set."""
    if skip is not None:
        listed = [(sha256, size) for sha256, size in listed if sha256 not in skip]
        skip.update(sha256 for sha256, _ in listed)
    total = sum(size for _, size in listed)
    progress = locked(progress)

    def read(sha256: str, chunks: Iterator[bytes]) -> Read:
        """Read one content (in a thread of its own when the source allows)."""
        counted = _counting(chunks, progress, total)
        try:
            found = _digest_of(counted) if on_content is None else on_content(sha256, counted)
        except codec.DamagedObject as error:
            return None, f"content {sha256}: {error}"
        if found[0] != sha256:
            return found, f"content {sha256} is damaged: its bytes hash to {found[0]}"
        return found, None

    wanted = _until(stop, listed) if stop is not None else iter(listed)
    with closing(_each(read, source.contents(wanted), source.parallel)) as answers:
        for found, wrong in answers:
            if found is not None:
                report.contents += 1
                report.bytes += found[1]
            if wrong is not None:
                _problem(report, strict, wrong)


def _digest_of(chunks: Iterator[bytes]) -> tuple[str, int]:
    digest = Digest()
    for _ in digest.feed(chunks):
        pass
    return digest.hexdigest, digest.size


def _until(stop: threading.Event, listed: list[tuple[str, int]]) -> Iterator[tuple[str, int]]:
    for entry in listed:
        if stop.is_set():
            return
        yield entry


#: A content read: its sha256 and size (None: it did not open) and what is wrong with it.
Read = tuple[tuple[str, int] | None, str | None]


def _each(
    read: Callable[[str, Iterator[bytes]], Read],
    contents: Iterator[tuple[str, Iterator[bytes]]],
    parallel: int,
) -> Generator[Read]:
    """``read`` of each content, ``parallel`` at once, at most twice as many waiting (so
    memory stays flat); the answers as they come. Contents not yet read when the caller
    stops (a problem in a strict read) are cancelled."""
    if parallel <= 1:
        for sha256, chunks in contents:
            yield read(sha256, chunks)
        return
    pending: set[Future[Read]] = set()
    with ThreadPoolExecutor(parallel, thread_name_prefix="backup-read") as pool:
        try:
            for sha256, chunks in contents:
                if len(pending) >= parallel * 2:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    yield from (future.result() for future in done)
                pending.add(pool.submit(read, sha256, chunks))
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                yield from (future.result() for future in done)
        finally:
            for future in pending:
                future.cancel()


def _contents_of(folder: Path) -> Iterator[tuple[str, int]]:
    with (folder / CONTENTS_PART).open("rb") as stream:
        yield from contents_list(read_chunks(stream))


def _counting(chunks: Iterator[bytes], progress: Progress, total: int) -> Iterator[bytes]:
    for chunk in chunks:
        progress(READING, len(chunk), total)
        yield chunk


# --- restore ---------------------------------------------------------------------------


class Migrations(Protocol):
    """The schema's migrations, as the restore needs them (the CLI passes Alembic's)."""

    def upgrade(self, revision: str) -> None: ...

    def remove_all(self) -> None:
        """Drop every table of labvault's (downgrade to nothing)."""
        ...

    def knows(self, revision: str) -> bool:
        """Whether ``revision`` is one of this labvault's migrations."""
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


def database_state(engine: sa.Engine) -> tuple[bool, bool, str | None]:
    """(has tables, has rows, revision) of the database."""
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
            for table in dumped_tables(Base.metadata)
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
    has_tables, has_rows, revision = database_state(engine)
    if has_rows and not force:
        raise BackupError(
            "the database is not empty: restore into a new database, or pass --force to "
            "replace everything in it"
        )
    if next(store.all_digests(), None) is not None and not force:
        raise BackupError(
            f"the file store {store.root} is not empty: restore into an empty one, or pass "
            "--force to replace its contents"
        )

    def place(_sha256: str, chunks: Iterator[bytes]) -> tuple[str, int]:
        stored = store.store(chunk_stream(chunks))  # hashes what it stores
        return stored.sha256, stored.size

    read = ReadReport(manifest)
    listed = _read_parts(source, folder, read, strict=True)
    assert listed is not None  # strict: raised otherwise
    parts_bytes = read.bytes
    tables = manifest["tables"]
    total_rows = sum(table["rows"] for table in tables)
    progress = _together(progress, {READING: sum(size for _, size in listed), LOADING: total_rows})

    def place_all(stop: threading.Event) -> None:
        _read_contents(source, listed, place, read, True, progress, stop=stop)

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
            with search.indexed_at_the_end(connection):
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
        for sha256 in list(store.all_digests()):
            if sha256 not in keep and store.remove(sha256):
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
