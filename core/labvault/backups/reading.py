"""Reading a snapshot back: every part and content, each checked.

A snapshot is read through a *source* (a repository's snapshot, or an archive) as its
manifest, then its parts (each checked against the manifest's sha256 and size), then
its contents in the order of its contents list (each checked against its own sha256).
Verification reads everything and reports each problem; a restore
(:mod:`~labvault.backups.restore`) stops at the first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from labvault.backups import codec
from labvault.backups.archive import ArchiveReader
from labvault.backups.codec import BackupError, Digest, read_chunks
from labvault.backups.dump import contents_list
from labvault.backups.repository import CONTENTS, CONTENTS_PART, Repository
from labvault.backups.snapshot import Progress, locked, no_progress

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
    listed = read_parts(source, folder, report, strict)
    if listed is not None:
        read_contents(source, listed, on_content, report, strict, progress, skip)
    return report


def _problem(report: ReadReport, strict: bool, text: str) -> None:
    if strict:
        raise BackupError(text)
    report.problems.append(text)


def read_parts(
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


def read_contents(
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


__all__ = [
    "PARALLEL_CONTENTS",
    "READING",
    "ArchiveSource",
    "OnContent",
    "ReadReport",
    "RepositorySource",
    "Source",
    "read_contents",
    "read_parts",
    "read_snapshot",
]
