"""Reading a snapshot back: verifying every part and content, and restoring it.

A snapshot is read through a *source* (a repository's snapshot, or an archive) as its
manifest, then its parts (each checked against the manifest's sha256 and size), then
its contents in the order of its contents list (each checked against its own sha256).
Verification reads everything and reports each problem; a restore stops at the first.

A restore goes into an empty database (no tables, or labvault's tables without rows)
and an empty file store unless forced. Contents are placed first (the file store keeps
them by hash, so a failed restore leaves nothing the database points to wrongly), then
the schema is made at the snapshot's migration revision, every table is loaded in one
transaction, and the schema is upgraded to this labvault's revision. The database keeps
its own installation id (:mod:`~labvault.backups.installation`), never the snapshot's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import closing
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
from labvault.db import WRITE_OPTION
from labvault.files.storage import FileStore

#: on_content(sha256, chunks): do something with a verified content's bytes; called
#: from several threads at once for a source with ``parallel`` > 1.
OnContent = Callable[[str, Iterator[bytes]], None]
#: Contents a repository's snapshot is read (and a restore places them) at once.
PARALLEL_CONTENTS = 4


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
    manifest = source.manifest
    report = ReadReport(manifest)

    def problem(text: str) -> None:
        if strict:
            raise BackupError(text)
        report.problems.append(text)

    expected: dict[str, Any] = dict(manifest["parts"])
    for name, chunks in source.parts():
        if name not in expected:
            problem(f"part {name} is not in the manifest")
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
            problem(f"part {name}: {error}")
            continue
        report.parts += 1
        report.bytes += digest.size
        if (digest.hexdigest, digest.size) != (info["sha256"], info["size"]):
            problem(f"part {name} is damaged: its checksum is not the manifest's")
            path.unlink()
    for name in expected:
        problem(f"part {name} is missing")
    if not (folder / CONTENTS_PART).is_file():
        problem("the snapshot's contents list cannot be read")
        return report
    listed = list(_contents_of(folder))
    if skip is not None:
        listed = [(sha256, size) for sha256, size in listed if sha256 not in skip]
        skip.update(sha256 for sha256, _ in listed)
    total = sum(size for _, size in listed)
    progress = locked(progress)

    def read(sha256: str, chunks: Iterator[bytes]) -> Read:
        """Read one content (in a thread of its own when the source allows)."""
        digest = Digest()
        counted = _counting(digest.feed(chunks), progress, total)
        try:
            if on_content is not None:
                on_content(sha256, counted)
            for _ in counted:
                pass
        except codec.DamagedObject as error:
            return None, f"content {sha256}: {error}"
        if digest.hexdigest != sha256:
            return digest, f"content {sha256} is damaged: its bytes hash to {digest.hexdigest}"
        return digest, None

    with closing(_each(read, source.contents(iter(listed)), source.parallel)) as answers:
        for found, wrong in answers:
            if found is not None:
                report.contents += 1
                report.bytes += found.size
            if wrong is not None:
                problem(wrong)
    return report


#: A content read: its digest (None: it did not open) and what is wrong with it.
Read = tuple[Digest | None, str | None]


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
        progress("reading files", len(chunk), total)
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
    if next(store.all_digests(), None) is not None and not force:
        raise BackupError(
            f"the file store {store.root} is not empty: restore into an empty one, or pass "
            "--force to replace its contents"
        )

    counting = threading.Lock()

    def place(sha256: str, chunks: Iterator[bytes]) -> None:
        stored = store.store(chunk_stream(chunks))
        if stored.sha256 != sha256:
            raise BackupError(f"content {sha256} is damaged: its bytes hash to {stored.sha256}")
        with counting:
            report.files += 1
            report.bytes += stored.size

    read_snapshot(source, folder, place, strict=True, progress=progress)
    own = known_installation_id(engine)  # the snapshot's installation is another's
    if has_tables and (has_rows or revision != manifest["revision"]):
        migrations.remove_all()
    migrations.upgrade(manifest["revision"])
    tables = manifest["tables"]
    total_rows = sum(table["rows"] for table in tables)
    writer = engine.connect().execution_options(**{WRITE_OPTION: True})
    with writer as connection, connection.begin(), search.indexed_at_the_end(connection):
        for table in tables:
            with (folder / table_part(table["name"])).open("rb") as stream:
                part = TablePart(lines(read_chunks(stream)))
                if part.name != table["name"]:
                    raise ForgedSnapshot(f"the part of table {table['name']} is {part.name}'s")
                report.rows += load_table(
                    connection, part, lambda n: progress("loading the database", n, total_rows)
                )
            report.tables += 1
    migrations.upgrade("head")
    keep_installation_id(engine, own)
    if force:
        keep = {sha256 for sha256, _ in _contents_of(folder)}
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
