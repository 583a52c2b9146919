"""Taking a snapshot: the database read in one transaction, then written out.

The dump is read inside one repeatable-read transaction (SQLite: one read transaction of
its WAL), so rows written meanwhile are either all in it or not at all, and every file
it names is in the file store: contents are never deleted while a row refers to them, and
only ``labvault files gc`` deletes unreferenced ones. The parts go to temporary files
first (memory stays flat), then to a repository (contents, parts, and last the manifest
that commits the snapshot) or into an archive.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import sqlalchemy as sa

from labvault import __version__
from labvault.backups.chunking import Chunk, Chunker
from labvault.backups.codec import BackupError, Digest, read_chunks
from labvault.backups.dump import contents_list, dumped_tables, table_fingerprint, write_table
from labvault.backups.manifest import CHUNKED_VERSION, FORMAT, FORMAT_VERSION, table_part
from labvault.backups.redaction import public_config
from labvault.backups.repository import CONTENTS_PART, MANIFEST
from labvault.db import utcnow

CONFIG_PART = "config.json"

#: progress(stage, amount, total): ``amount`` more of ``total`` (rows or bytes) done.
Progress = Callable[[str, int, int], None]


def no_progress(_stage: str, _amount: int, _total: int) -> None:
    pass


@dataclass
class Part:
    name: str
    #: None: the part of the last snapshot, reused (its chunks are in the repository)
    path: Path | None
    sha256: str
    size: int
    #: its chunks, as a repository keeps it (an archive keeps the whole part)
    chunks: list[Chunk] = field(default_factory=list)


@dataclass
class Dump:
    """A database read into parts in ``folder``, ready to be written out."""

    folder: Path
    manifest: dict[str, Any]
    parts: list[Part] = field(default_factory=list)

    @property
    def contents_count(self) -> int:
        count: int = self.manifest["contents"]["count"]
        return count

    @property
    def contents_bytes(self) -> int:
        size: int = self.manifest["contents"]["bytes"]
        return size

    def contents(self) -> Iterator[tuple[str, int]]:
        with (self.folder / CONTENTS_PART).open("rb") as stream:
            yield from contents_list(read_chunks(stream))

    def list_chunks(self) -> None:
        """Make the manifest one of a repository's snapshot: each part a list of chunks
        (an archive keeps the parts whole, in format 1)."""
        self.manifest["format_version"] = CHUNKED_VERSION
        for part in self.parts:
            chunks = [[chunk.sha256, chunk.size] for chunk in part.chunks]
            self.manifest["parts"][part.name]["chunks"] = chunks


@dataclass
class Previous:
    """The newest snapshot of the repository a dump goes to: a table whose fingerprint
    is the one it has there keeps that part (no JSON written, no chunk stored), if the
    snapshot was written alike (this labvault, schema revision and kind of database) and
    the repository still ``has`` each of its chunks."""

    manifest: dict[str, Any]
    has: Callable[[str], bool]

    def part(self, dump: Dump, table: str, fingerprint: str) -> dict[str, Any] | None:
        """The previous snapshot's part of ``table``, if it can be reused."""
        manifest = self.manifest
        if manifest.get("format_version") != CHUNKED_VERSION or any(
            manifest.get(key) != dump.manifest[key]
            for key in ("labvault_version", "revision", "database")
        ):
            return None
        listed = [entry for entry in manifest["tables"] if entry["name"] == table]
        if len(listed) != 1 or listed[0].get("fingerprint") != fingerprint:
            return None
        info: dict[str, Any] = manifest["parts"][table_part(table)]
        if not all(self.has(sha256) for sha256, _ in info["chunks"]):
            return None
        return info


def snapshot_id(now: dt.datetime) -> str:
    """Ids sort by time: ``20261130T071502.123456Z``."""
    return now.strftime("%Y%m%dT%H%M%S.%fZ")


def _read_transaction(connection: sa.Connection) -> sa.Connection:
    if connection.dialect.name == "sqlite":
        return connection  # BEGIN, then the first read fixes what this connection sees
    return connection.execution_options(isolation_level="REPEATABLE READ")


def dump_database(
    engine: sa.Engine,
    config: Mapping[str, Any],
    folder: Path,
    progress: Progress = no_progress,
    *,
    metadata: sa.MetaData,
    installation: str | None = None,
    previous: Previous | None = None,
) -> Dump:
    """Read every table of ``metadata`` (every model's, as ``Backups.metadata``), the
    contents they refer to and ``config`` (the settings without their secrets:
    :func:`public_config`) into ``folder``; the manifest names the
    ``installation`` that took it (:mod:`~labvault.backups.installation`). A table
    unchanged since the ``previous`` snapshot keeps its part there."""
    started = utcnow()
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "snapshot": snapshot_id(dt.datetime.now(dt.UTC)),
        "labvault_version": __version__,
        "database": engine.dialect.name,
        **({"installation": installation} if installation else {}),
        "started_at": started.isoformat(),
        "tables": [],
        "parts": {},
    }
    dump = Dump(folder, manifest)
    tables = dumped_tables(metadata)
    with _read_transaction(engine.connect()) as connection, connection.begin():
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SET TRANSACTION READ ONLY")
        try:
            revision = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
            manifest["revision"] = revision.scalar()
        except sa.exc.DBAPIError:
            raise BackupError(
                "the database has no labvault schema (run labvault db upgrade)"
            ) from None
        for table in tables:
            rows, fingerprint = _table(dump, connection, table, previous)
            manifest["tables"].append(
                {"name": table.name, "rows": rows, "fingerprint": fingerprint}
            )
            progress("reading the database", 1, len(tables))
        count = total = 0
        with _part(dump, CONTENTS_PART) as out:
            files = metadata.tables["files"]
            query = (
                sa.select(files.c.sha256, sa.func.max(files.c.size))
                .group_by(files.c.sha256)
                .order_by(files.c.sha256)
            )
            result = connection.execution_options(stream_results=True, yield_per=5000)
            for sha256, size in result.execute(query):
                line = json.dumps([sha256, size]).encode() + b"\n"
                out.write_lines([line], [line])
                count, total = count + 1, total + size
    manifest["contents"] = {"count": count, "bytes": total}
    with _part(dump, CONFIG_PART) as out:
        out.write(json.dumps(config, indent=1, sort_keys=True).encode())
    manifest["dumped_at"] = utcnow().isoformat()
    return dump


def _table(
    dump: Dump, connection: sa.Connection, table: sa.Table, previous: Previous | None
) -> tuple[int, str]:
    """Write ``table``'s part, or reuse the previous snapshot's; its rows and fingerprint."""
    name = table_part(table.name)
    rows, fingerprint = table_fingerprint(connection, table)
    if previous is not None:
        info = previous.part(dump, table.name, fingerprint)
        if info is not None:
            offsets = itertools.accumulate((size for _, size in info["chunks"]), initial=0)
            chunks = [
                Chunk(sha256, size, offset)
                for (sha256, size), offset in zip(info["chunks"], offsets, strict=False)
            ]
            dump.parts.append(Part(name, None, info["sha256"], info["size"], chunks))
            dump.manifest["parts"][name] = {"sha256": info["sha256"], "size": info["size"]}
            return rows, fingerprint
    with _part(dump, name) as out:
        written = write_table(connection, table, out)
    if written != rows:  # one transaction: cannot be, unless the database breaks it
        raise BackupError(f"table {table.name} changed while it was read")
    return rows, fingerprint


class _part:
    """A part being written to the dump's folder, hashed and cut into chunks as it is
    written; listed in the dump when closed."""

    def __init__(self, dump: Dump, name: str) -> None:
        self.dump = dump
        self.name = name
        self.path = dump.folder / name
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.digest = Digest()
        self.chunker = Chunker()

    def __enter__(self) -> _part:
        self.stream: BinaryIO = self.path.open("wb")
        return self

    def write(self, data: bytes) -> None:
        """Write bytes that need no chunk bounds inside them (a small part)."""
        self.digest.update(data)
        self.chunker.add_block(data)
        self.stream.write(data)

    def write_lines(self, lines: list[bytes], keys: list[bytes]) -> None:
        add = self.chunker.add
        for line, key in zip(lines, keys, strict=True):
            add(line, key)
        data = b"".join(lines)
        self.digest.update(data)
        self.stream.write(data)

    def __exit__(self, *exc_info: object) -> None:
        self.stream.close()
        if exc_info[0] is not None:
            return
        digest = self.digest
        chunks = self.chunker.close()
        part = Part(self.name, self.path, digest.hexdigest, digest.size, chunks)
        self.dump.parts.append(part)
        self.dump.manifest["parts"][self.name] = {"sha256": part.sha256, "size": part.size}


def temporary_folder() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="labvault-backup-")


def locked(progress: Progress) -> Progress:
    """``progress`` callable from several threads."""
    lock = threading.Lock()

    def report(stage: str, amount: int, total: int) -> None:
        with lock:
            progress(stage, amount, total)

    return report


__all__ = ["MANIFEST", "Dump", "Part", "Progress", "dump_database", "public_config"]
