"""The built-in ``local`` file store: content-addressed under a folder of this machine
(FILE_DIRECTORY, unless ``FILE_STORE = {"type": "local", "path": ...}`` names another).

Content lives at ``<root>/ab/cd/<sha256>``, where ``abcd`` are the first four hex digits
of its sha256, so identical content is stored once. An upload is written to
``<root>/tmp/`` while it is hashed, fsynced, and only then renamed to its final name:
a crash or a dropped connection never leaves a half-written file under a name the
database could point to. ``tmp/`` sits inside the root so the rename stays on one
filesystem and is atomic.

Uploads are written into ``tmp/`` directly (:meth:`LocalFileStore.writer`, used by
the upload request class of :mod:`labvault.web.uploads`), so placing them is only a
rename: a large upload is written to disk once.

Placing content and garbage collection exclude each other through a lock file
(``<root>/.lock``). An upload whose content is already stored refreshes that file's
modification time under the lock, and the collector never removes content modified
within its grace period, so content cannot vanish between an upload and the commit of
the database row that refers to it.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from typing import Any, BinaryIO, TypeGuard, cast

import marshmallow as ma

from labvault.plugin import (
    ContentInfo,
    ContentMissing,
    ContentWriter,
    FileStore,
    Host,
    check_sha256,
    hookimpl,
)
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


__all__ = ["LocalFileStore", "StoredContent", "TempContent"]


def make_private_folder(directory: Path) -> None:
    """Make ``directory`` and its missing parents, each with FOLDER_MODE (``mkdir -p``
    would give the parents the umask's mode, usually 0755)."""
    missing = []
    while not directory.is_dir() and directory != directory.parent:
        missing.append(directory)
        directory = directory.parent
    for folder in reversed(missing):
        folder.mkdir(mode=FOLDER_MODE, exist_ok=True)


@dataclass(frozen=True)
class StoredContent(PublicStoredContent):
    """What :meth:`LocalFileStore.keep` stored; ``created`` is False for a duplicate."""

    path: Path
    created: bool


class TempContent(ContentWriter):
    """Content being written into the store's ``tmp/``, hashed while it is written.

    It is the file object werkzeug streams an uploaded part into, so it reads, seeks and
    iterates like the file it wraps. The digest is computed as the content is written
    front to back; should anyone write elsewhere, it is computed again from the disk.
    Closing it, or :meth:`discard`, removes the temp file unless the store kept it.
    """

    def __init__(self, directory: Path, store: LocalFileStore | None = None) -> None:
        make_private_folder(directory)
        self._file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed by close()
            dir=directory, prefix="upload-", suffix=".part", delete=False
        )
        self.path = Path(self._file.name)
        self.store = store
        #: Set by :meth:`LocalFileStore.keep` once the content has its final name.
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

    def readable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

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
        # read, readline, tell, flush, fileno, ...: those of the file
        if name.startswith("_"):  # e.g. _file itself, before __init__ set it
            raise AttributeError(name)
        return getattr(self._file, name)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._file)

    def __enter__(self) -> TempContent:
        return self


class LocalOptions(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    path = ma.fields.String(
        load_default=None,
        validate=ma.validate.Regexp(r"^/", error="must be an absolute path"),
        metadata={"description": "the folder content is kept in (default: FILE_DIRECTORY)"},
    )


class LocalFileStore(FileStore):
    """The content-addressed store rooted at a folder (created on first write)."""

    name = "local"
    description = "A folder of the server's machine (FILE_DIRECTORY by default)"
    OptionsSchema = LocalOptions

    def __init__(self, instance_name: str, options: Mapping[str, Any], host: Host) -> None:
        super().__init__(instance_name, options, host)
        root = options.get("path") or host.settings["FILE_DIRECTORY"]
        self.root = Path(root)
        self.temp_directory = self.root / TEMP_DIRECTORY

    @classmethod
    def at(cls, root: str | os.PathLike[str]) -> LocalFileStore:
        """The store rooted at ``root``, outside a configured app (tests, commands)."""
        return cls("files", {"path": os.fspath(root)}, cast(Host, None))

    @property
    def location(self) -> str:
        return str(self.root)

    def path_for(self, sha256: str) -> Path:
        """Where content with this digest lives; ValueError unless 64 lowercase hex digits."""
        check_sha256(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def local_path(self, sha256: str) -> Path:
        return self.path_for(sha256)

    def stat(self, sha256: str) -> ContentInfo | None:
        try:
            info = self.path_for(sha256).stat()
        except FileNotFoundError:
            return None
        if not S_ISREG(info.st_mode):
            return None
        return ContentInfo(sha256, info.st_size, info.st_mtime)

    def open(self, sha256: str, start: int = 0, end: int | None = None) -> BinaryIO:
        """The stored content for reading; the caller closes it."""
        try:
            stream = self.path_for(sha256).open("rb")
        except FileNotFoundError:
            raise ContentMissing(f"content {sha256} is missing from {self.root}") from None
        if start or end is not None:
            stream.seek(start)
            if end is not None:
                return cast(BinaryIO, io.BufferedReader(_Slice(stream, end - start)))
        return stream

    def writer(self) -> TempContent:
        """A new temp file in the store to write content into, then :meth:`keep` or discard."""
        return TempContent(self.temp_directory, self)

    def owns(self, stream: object) -> TypeGuard[TempContent]:
        """Whether ``stream`` is an open temp file of this store, ready to :meth:`keep`."""
        return (
            isinstance(stream, TempContent)
            and stream.path.parent == self.temp_directory
            and not stream.closed
        )

    def keep(self, writer: ContentWriter) -> StoredContent:
        """Move the content written into ``temp`` to its place (fsynced) and close ``temp``.

        If the content is stored already, the temp file is simply removed. On any
        failure the temp file is removed before the exception propagates.
        """
        if not self.owns(writer):
            raise ValueError(f"{writer!r} is not an open temp file of the store in {self.root}")
        temp = writer
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

    def list(self) -> Iterator[ContentInfo]:
        for sha256 in self.all_digests():
            info = self.stat(sha256)
            if info is not None:  # else removed meanwhile
                yield info

    def delete(self, sha256: str, *, unless_modified_after: float | None = None) -> bool:
        path = self.path_for(sha256)
        if not self.root.is_dir():
            return False
        with self._lock():
            try:
                since = unless_modified_after
                if since is not None and path.stat().st_mtime > since:  # stored again
                    return False
                path.unlink()
            except FileNotFoundError:
                return False
        return True

    def sweep(self, older_than: float, *, dry_run: bool = False) -> tuple[int, int]:
        """Remove temp files abandoned by failed uploads before ``older_than``."""
        if not self.temp_directory.is_dir():
            return 0, 0
        with os.scandir(self.temp_directory) as entries:
            candidates = [Path(entry.path) for entry in entries]
        count = size = 0
        for path in candidates:
            try:
                info = path.lstat()
                if not S_ISREG(info.st_mode) or info.st_mtime > older_than:
                    continue
                if not dry_run:
                    path.unlink()
            except FileNotFoundError:  # its upload just finished or failed
                continue
            count += 1
            size += info.st_size
        return count, size


class _Slice(io.RawIOBase):
    """The next ``length`` bytes of a file (the file closes with it)."""

    def __init__(self, stream: BinaryIO, length: int) -> None:
        self._stream = stream
        self._left = max(length, 0)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(min(len(buffer), self._left))
        memoryview(buffer).cast("B")[: len(data)] = data
        self._left -= len(data)
        return len(data)

    def close(self) -> None:
        self._stream.close()
        super().close()


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


@hookimpl
def labvault_file_store_types() -> list[type[FileStore]]:
    return [LocalFileStore]
