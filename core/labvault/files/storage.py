"""Content-addressed storage of uploaded files under FILE_DIRECTORY.

Content lives at ``<root>/ab/cd/<sha256>``, where ``abcd`` are the first four hex digits
of its sha256, so identical content is stored once. An upload is written to
``<root>/tmp/`` while it is hashed, fsynced, and only then renamed to its final name:
a crash or a dropped connection never leaves a half-written file under a name the
database could point to. ``tmp/`` sits inside the root so the rename stays on one
filesystem and is atomic.

Uploads can also be written into ``tmp/`` directly (:meth:`FileStore.open_temp`, used by
the upload request class of :mod:`labvault.web.uploads`), so placing them is only a
rename: a large upload is written to disk once.

Placing content and garbage collection exclude each other through a lock file
(``<root>/.lock``). An upload whose content is already stored refreshes that file's
modification time under the lock, and the collector never removes content modified
within its grace period, so content cannot vanish between an upload and the commit of
the database row that refers to it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG
from typing import IO, Any, BinaryIO, TypeGuard

from labvault.errors import ContentTooLarge, LabvaultError
from labvault.files import DEFAULT_GRACE_SECONDS
from labvault.plugin import ContentStore
from labvault.plugin import StoredContent as PublicStoredContent

CHUNK_SIZE = 1 << 20
FILE_MODE = 0o444
#: The store's folders are the server user's alone: content is read through the API,
#: which checks who may read it.
FOLDER_MODE = 0o700
TEMP_DIRECTORY = "tmp"
LOCK_FILE = ".lock"
_DIGEST = re.compile(r"[0-9a-f]{64}")
_FANOUT_DIRECTORY = re.compile(r"[0-9a-f]{2}")


__all__ = ["ContentMissing", "ContentTooLarge", "FileStore", "StoredContent", "TempContent"]


def make_private_folder(directory: Path) -> None:
    """Make ``directory`` and its missing parents, each with FOLDER_MODE (``mkdir -p``
    would give the parents the umask's mode, usually 0755)."""
    missing = []
    while not directory.is_dir() and directory != directory.parent:
        missing.append(directory)
        directory = directory.parent
    for folder in reversed(missing):
        folder.mkdir(mode=FOLDER_MODE, exist_ok=True)


class ContentMissing(LabvaultError):
    """Content that should be in the store is absent or has the wrong size."""


@dataclass(frozen=True)
class StoredContent(PublicStoredContent):
    """What :meth:`FileStore.store` stored; ``created`` is False for a duplicate."""

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


class TempContent:
    """Content being written into the store's ``tmp/``, hashed while it is written.

    It is the file object werkzeug streams an uploaded part into, so it reads, seeks and
    iterates like the file it wraps. The digest is computed as the content is written
    front to back; should anyone write elsewhere, it is computed again from the disk.
    Closing it, or :meth:`discard`, removes the temp file unless the store kept it.
    """

    def __init__(self, directory: Path) -> None:
        make_private_folder(directory)
        self._file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed by close()
            dir=directory, prefix="upload-", suffix=".part", delete=False
        )
        self.path = Path(self._file.name)
        #: Set by :meth:`FileStore.keep` once the content has its final name.
        self.kept = False
        self._hasher = hashlib.sha256()
        self._hashed = 0
        self._in_order = True

    def __repr__(self) -> str:
        return f"<TempContent {self.path}>"

    def write(self, data: bytes) -> int:
        if self._in_order and self._file.tell() != self._hashed:
            self._in_order = False
        written = self._file.write(data)
        if self._in_order:
            self._hasher.update(data)
            self._hashed += written
        return written

    @property
    def size(self) -> int:
        """Bytes in the file so far."""
        self._file.flush()
        return os.fstat(self._file.fileno()).st_size

    @property
    def closed(self) -> bool:
        return self._file.closed

    def finish(self) -> tuple[str, int]:
        """Flush to the disk and close; the content's sha256 and size."""
        size = self.size
        os.fsync(self._file.fileno())
        if not self._in_order or size != self._hashed:
            self._file.seek(0)
            self._hasher = hashlib.sha256()
            while chunk := self._file.read(CHUNK_SIZE):
                self._hasher.update(chunk)
        self._file.close()
        return self._hasher.hexdigest(), size

    def discard(self) -> None:
        """Close and remove the temp file (unless kept); safe to call more than once."""
        self._file.close()
        if not self.kept:
            self.path.unlink(missing_ok=True)

    close = discard

    def __getattr__(self, name: str) -> Any:
        # read, readline, seek, tell, flush, fileno, ...: those of the file
        if name.startswith("_"):  # e.g. _file itself, before __init__ set it
            raise AttributeError(name)
        return getattr(self._file, name)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._file)

    def __enter__(self) -> TempContent:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.discard()


class FileStore(ContentStore):
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

    def open_temp(self) -> TempContent:
        """A new temp file in the store to write content into, then :meth:`keep` or discard."""
        return TempContent(self.temp_directory)

    def owns(self, stream: object) -> TypeGuard[TempContent]:
        """Whether ``stream`` is an open temp file of this store, ready to :meth:`keep`."""
        return (
            isinstance(stream, TempContent)
            and stream.path.parent == self.temp_directory
            and not stream.closed
        )

    def write_temp(self, stream: IO[bytes], *, max_size: int | None) -> TempContent:
        """Copy ``stream`` into a temp file; raise :class:`ContentTooLarge` past ``max_size``.

        Whatever goes wrong (too large, client disconnect, full disk), the temp file is
        removed before the exception propagates.
        """
        temp = self.open_temp()
        size = 0
        try:
            while chunk := stream.read(CHUNK_SIZE):
                size += len(chunk)
                if max_size is not None and size > max_size:
                    raise ContentTooLarge(max_size)
                temp.write(chunk)
        except BaseException:
            temp.discard()
            raise
        return temp

    def store(self, stream: IO[bytes], *, max_size: int | None = None) -> StoredContent:
        """Store everything ``stream`` yields; raise :class:`ContentTooLarge` past ``max_size``.

        Whatever goes wrong (too large, client disconnect, full disk), the temp file is
        removed before the exception propagates.
        """
        return self.keep(self.write_temp(stream, max_size=max_size))

    def keep(self, temp: TempContent) -> StoredContent:
        """Move the content written into ``temp`` to its place (fsynced) and close ``temp``.

        If the content is stored already, the temp file is simply removed. On any
        failure the temp file is removed before the exception propagates.
        """
        if not self.owns(temp):
            raise ValueError(f"{temp!r} is not an open temp file of the store in {self.root}")
        try:
            sha256, size = temp.finish()
            final = self.path_for(sha256)
            created = self._place(temp.path, final)
        except BaseException:
            temp.discard()
            raise
        temp.kept = True
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
                    directory.mkdir(mode=FOLDER_MODE, exist_ok=True)
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


@contextmanager
def written_whole(path: Path) -> Iterator[BinaryIO]:
    """A file to write ``path`` through, whole or not at all: a hidden partial file
    beside it, synced and renamed to ``path`` when the ``with`` block ends, removed if
    it raises (an archive or an export a deployer asked for on the command line)."""
    partial = path.with_name(f".{path.name}.partial-{secrets.token_hex(4)}")
    try:
        with partial.open("xb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
