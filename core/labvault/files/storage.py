"""Content-addressed storage of uploaded files under FILE_DIRECTORY.

Content lives at ``<root>/ab/cd/<sha256>``, where ``abcd`` are the first four hex digits
of its sha256, so identical content is stored once. An upload is written to
``<root>/tmp/`` while it is hashed, fsynced, and only then renamed to its final name:
a crash or a dropped connection never leaves a half-written file under a name the
database could point to. ``tmp/`` sits inside the root so the rename stays on one
filesystem and is atomic.

Placing content and garbage collection exclude each other through a lock file
(``<root>/.lock``). An upload whose content is already stored refreshes that file's
modification time under the lock, and the collector never removes content modified
within its grace period, so content cannot vanish between an upload and the commit of
the database row that refers to it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG
from typing import IO, BinaryIO

from werkzeug.exceptions import RequestEntityTooLarge

from labvault.errors import LabvaultError

CHUNK_SIZE = 1 << 20
FILE_MODE = 0o444
DEFAULT_GRACE_SECONDS = 3600
TEMP_DIRECTORY = "tmp"
LOCK_FILE = ".lock"
_DIGEST = re.compile(r"[0-9a-f]{64}")
_FANOUT_DIRECTORY = re.compile(r"[0-9a-f]{2}")


class ContentTooLarge(LabvaultError, RequestEntityTooLarge):
    """The content is larger than the limit; nothing was stored.

    It is also werkzeug's 413, so a route that lets it through answers 413 in the API's
    JSON error format.
    """

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        super().__init__(description=f"the file is larger than the limit of {max_size} bytes")


class ContentMissing(LabvaultError):
    """Content that should be in the store is absent or has the wrong size."""


@dataclass(frozen=True)
class StoredContent:
    """What :meth:`FileStore.save_stream` stored; ``created`` is False for a duplicate."""

    sha256: str
    size: int
    path: Path
    created: bool


@dataclass
class GcReport:
    """What :meth:`FileStore.collect_garbage` removed (or would remove, in a dry run).

    ``bytes_freed`` counts removed content and removed stale temp files.
    """

    removed: list[str] = field(default_factory=list)
    kept: int = 0
    bytes_freed: int = 0
    temp_files_removed: int = 0


class FileStore:
    """The content-addressed store rooted at ``root`` (created on first write)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.temp_directory = self.root / TEMP_DIRECTORY

    def path_for(self, sha256: str) -> Path:
        """Where content with this digest lives; ValueError unless 64 lowercase hex digits."""
        if not isinstance(sha256, str) or not _DIGEST.fullmatch(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def open(self, sha256: str) -> BinaryIO:
        """The stored content for reading; the caller closes it."""
        try:
            return self.path_for(sha256).open("rb")
        except FileNotFoundError:
            raise ContentMissing(f"content {sha256} is missing from {self.root}") from None

    def save_stream(self, stream: IO[bytes], *, max_size: int | None) -> StoredContent:
        """Store everything ``stream`` yields; raise :class:`ContentTooLarge` past ``max_size``.

        Whatever goes wrong (too large, client disconnect, full disk), the temp file is
        removed before the exception propagates.
        """
        self.temp_directory.mkdir(parents=True, exist_ok=True)
        hasher = hashlib.sha256()
        size = 0
        temp = tempfile.NamedTemporaryFile(  # noqa: SIM115 - the file outlives the with block
            dir=self.temp_directory, prefix="upload-", suffix=".part", delete=False
        )
        temp_path = Path(temp.name)
        try:
            with temp:
                while chunk := stream.read(CHUNK_SIZE):
                    size += len(chunk)
                    if max_size is not None and size > max_size:
                        raise ContentTooLarge(max_size)
                    hasher.update(chunk)
                    temp.write(chunk)
                temp.flush()
                os.fsync(temp.fileno())
            sha256 = hasher.hexdigest()
            final = self.path_for(sha256)
            created = self._place(temp_path, final)
        except BaseException:
            temp_path.unlink(missing_ok=True)
            raise
        return StoredContent(sha256=sha256, size=size, path=final, created=created)

    def _place(self, temp_path: Path, final: Path) -> bool:
        with self._lock():
            if final.is_file():
                try:
                    # restarts the collector's grace period until the row is committed
                    os.utime(final)
                except PermissionError:  # stored by another user: a fresh copy does as well
                    self._rename_into_place(temp_path, final)
                else:
                    temp_path.unlink()
                return False
            for directory in (final.parent.parent, final.parent):
                if not directory.is_dir():
                    directory.mkdir(exist_ok=True)
                    _fsync_directory(directory.parent)
            self._rename_into_place(temp_path, final)
            return True

    @staticmethod
    def _rename_into_place(temp_path: Path, final: Path) -> None:
        os.chmod(temp_path, FILE_MODE)
        os.replace(temp_path, final)
        _fsync_directory(final.parent)

    @contextmanager
    def _lock(self) -> Iterator[None]:
        descriptor = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # releases the lock

    def all_digests(self) -> Iterator[str]:
        """The digest of every stored content, in sorted order; temp files are skipped."""
        for first in _fanout_directories(self.root):
            for second in _fanout_directories(first):
                prefix = first.name + second.name
                with os.scandir(second) as entries:
                    names = sorted(
                        entry.name
                        for entry in entries
                        if entry.is_file(follow_symlinks=False)
                        and _DIGEST.fullmatch(entry.name)
                        and entry.name.startswith(prefix)
                    )
                yield from names

    def remove(self, sha256: str) -> bool:
        """Remove stored content; False if it was not there."""
        path = self.path_for(sha256)
        if not self.root.is_dir():
            return False
        with self._lock():
            try:
                path.unlink()
            except FileNotFoundError:
                return False
        return True

    def collect_garbage(
        self,
        referenced: Callable[[str], bool] | AbstractSet[str],
        *,
        dry_run: bool = False,
        grace_seconds: float = DEFAULT_GRACE_SECONDS,
    ) -> GcReport:
        """Remove content nothing refers to, and temp files abandoned by failed uploads.

        ``referenced`` answers whether the database refers to a digest: a function, or the
        set of all referenced digests read before the sweep. Content or temp files modified
        within ``grace_seconds`` are kept: an upload in flight, or one whose row is not
        committed yet, is younger than that.
        """
        is_referenced = referenced if callable(referenced) else referenced.__contains__
        report = GcReport()
        if not self.root.is_dir():
            return report
        cutoff = time.time() - grace_seconds
        for sha256 in self.all_digests():
            if is_referenced(sha256):
                report.kept += 1
                continue
            path = self.path_for(sha256)
            with self._lock():
                try:
                    info = path.stat()
                except FileNotFoundError:  # removed meanwhile
                    continue
                if info.st_mtime > cutoff:
                    report.kept += 1
                    continue
                if not dry_run:
                    path.unlink()
            report.removed.append(sha256)
            report.bytes_freed += info.st_size
        self._collect_temp_files(cutoff, dry_run, report)
        return report

    def _collect_temp_files(self, cutoff: float, dry_run: bool, report: GcReport) -> None:
        if not self.temp_directory.is_dir():
            return
        with os.scandir(self.temp_directory) as entries:
            candidates = [Path(entry.path) for entry in entries]
        for path in candidates:
            try:
                info = path.lstat()
                if not S_ISREG(info.st_mode) or info.st_mtime > cutoff:
                    continue
                if not dry_run:
                    path.unlink()
            except FileNotFoundError:  # its upload just finished or failed
                continue
            report.temp_files_removed += 1
            report.bytes_freed += info.st_size


def _fanout_directories(parent: Path) -> list[Path]:
    if not parent.is_dir():
        return []
    with os.scandir(parent) as entries:
        names = sorted(
            entry.name
            for entry in entries
            if entry.is_dir(follow_symlinks=False) and _FANOUT_DIRECTORY.fullmatch(entry.name)
        )
    return [parent / name for name in names]


def _fsync_directory(path: Path) -> None:
    """Make a rename or a new entry in ``path`` survive a power cut."""
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
