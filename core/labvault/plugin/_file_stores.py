"""File stores: where the content of files is kept, named by its sha256 (the built-in
``local`` folder, an object store, ...). The base class, what a store reports of a
content, content being written, and a seekable reader over byte ranges."""

from __future__ import annotations

import abc
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, TypeGuard

from labvault.errors import ContentTooLarge, LabvaultError
from labvault.plugin._host import ContentStore, StoredContent
from labvault.plugin._types import PluginType

#: How much of a stream is read at a time when it is copied into a store.
CHUNK_SIZE = 1 << 20
SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")


def check_sha256(sha256: str) -> str:
    """``sha256`` if it is 64 lowercase hex digits; ``ValueError`` otherwise (a bug of
    the caller: the core checks digests before a store sees them)."""
    if not isinstance(sha256, str) or not SHA256_PATTERN.fullmatch(sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return sha256


class ContentMissing(LabvaultError):
    """Content that should be in the store is absent or has the wrong size."""


@dataclass(frozen=True)
class ContentInfo:
    """One content of a store, as ``stat`` and ``list`` report it."""

    sha256: str
    size: int
    #: When it was stored, or stored again (POSIX seconds): the garbage collector keeps
    #: content younger than its grace period, so content being uploaded again is kept.
    modified: float


class ContentWriter(abc.ABC):
    """New content being written into a store, hashed as it arrives, until the store
    keeps it (:meth:`FileStore.keep`) or it is discarded.

    An upload is written straight into one (werkzeug writes each uploaded part to it,
    then rewinds it with ``seek(0)``). Closing it discards it unless it was kept.
    """

    @abc.abstractmethod
    def write(self, data: bytes) -> int:
        """Append ``data``; returns its length."""

    @property
    @abc.abstractmethod
    def size(self) -> int:
        """Bytes written so far."""

    @property
    @abc.abstractmethod
    def closed(self) -> bool:
        """Whether it was kept or discarded."""

    @abc.abstractmethod
    def discard(self) -> None:
        """Drop what was written (unless it was kept); safe to call more than once."""

    def close(self) -> None:
        self.discard()

    def readable(self) -> bool:
        """Whether what was written can be read back before it is kept (a local temp
        file can; an upload in progress to an object store cannot)."""
        return False

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Only the rewind werkzeug does after writing an upload; a writer that cannot
        be read back has nothing to seek in."""
        if (offset, whence) != (0, io.SEEK_SET):
            raise io.UnsupportedOperation("content being written into a store is not seekable")
        return 0

    def __enter__(self) -> ContentWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.discard()


class FileStore(PluginType, ContentStore):
    """Where the content of files is kept, each distinct content once, under its sha256.

    The core keeps exactly one instance, configured by ``FILE_STORE = {"type": ...,
    **options}``. A store keeps bytes; names, who may read what and which content is
    still referred to are the core's. Digests handed to a store have been checked (64
    lowercase hex digits). Failures of the store (unreachable, refused) raise
    :class:`~labvault.plugin.Unavailable` naming the store.
    ``labvault.testing.FileStoreContract`` holds the tests every type passes.
    """

    @property
    def location(self) -> str:
        """Where the content is, for messages (a folder, a bucket's URL)."""
        return f"file store {self.name}"

    @abc.abstractmethod
    def writer(self) -> ContentWriter:
        """New content to write into, hashed as it arrives; :meth:`keep` it or discard it."""

    @abc.abstractmethod
    def keep(self, writer: ContentWriter) -> StoredContent:
        """Keep what was written into ``writer`` (one of this store's) under its sha256,
        all or nothing: no reader ever sees part of a content under its name. Content
        kept already stays as it is, its ``modified`` time set to now. ``writer`` is
        closed afterwards, whether or not this succeeds."""

    @abc.abstractmethod
    def open(self, sha256: str, start: int = 0, end: int | None = None) -> BinaryIO:
        """The bytes ``start`` up to ``end`` (exclusive; None: to the end) of a content;
        the caller closes the stream. Without a range it is seekable. Raises
        :class:`ContentMissing` if the content is not there."""

    @abc.abstractmethod
    def stat(self, sha256: str) -> ContentInfo | None:
        """What the store holds under ``sha256``, or None."""

    @abc.abstractmethod
    def delete(self, sha256: str, *, unless_modified_after: float | None = None) -> bool:
        """Remove a content; False if it was not there. With ``unless_modified_after``
        (POSIX seconds) content stored (again) after that time stays and False is
        returned: where the store can, the check and the removal are one step."""

    @abc.abstractmethod
    def list(self) -> Iterator[ContentInfo]:
        """Every content in the store, in order of sha256 (for garbage collection and
        moving contents to another store); what is being written is not listed."""

    def sweep(self, older_than: float, *, dry_run: bool = False) -> tuple[int, int]:
        """Remove what writes abandoned before ``older_than`` (POSIX seconds) left
        behind (temp files, unfinished uploads): how many, and their bytes if known."""
        return 0, 0

    def local_path(self, sha256: str) -> Path | None:
        """A path of this machine holding the content, served with ``sendfile``; None
        (the default) where the store is not a local folder."""
        return None

    def download_url(self, sha256: str, *, content_disposition: str, media_type: str) -> str | None:
        """A short-lived URL a client may download the content from directly, answered
        with these ``Content-Disposition`` and ``Content-Type`` headers, or None (the
        default): the server then streams it. Return one only where the deployer
        allowed it; the core has checked who may read the content."""
        return None

    def owns(self, stream: object) -> TypeGuard[ContentWriter]:
        """Whether ``stream`` is an open writer of this store, ready to :meth:`keep`."""
        return isinstance(stream, ContentWriter) and getattr(stream, "store", None) is self

    def exists(self, sha256: str) -> bool:
        return self.stat(sha256) is not None

    def write(self, stream: IO[bytes], *, max_size: int | None = None) -> ContentWriter:
        """A writer holding everything ``stream`` yields; :class:`ContentTooLarge` past
        ``max_size`` bytes. Whatever goes wrong, the writer is discarded first."""
        writer = self.writer()
        size = 0
        try:
            while chunk := stream.read(CHUNK_SIZE):
                size += len(chunk)
                if max_size is not None and size > max_size:
                    raise ContentTooLarge(max_size)
                writer.write(chunk)
        except BaseException:
            writer.discard()
            raise
        return writer

    def store(self, stream: IO[bytes], *, max_size: int | None = None) -> StoredContent:
        return self.keep(self.write(stream, max_size=max_size))


class SeekableRange(io.RawIOBase):
    """A content of ``size`` bytes read through ``fetch(start, end)`` (a stream of
    those bytes): seekable, and each read after a seek asks for the bytes from there
    up to :attr:`end` only, so a reader that jumps about fetches only what it reads.
    Wrap it in ``io.BufferedReader`` for small reads."""

    def __init__(self, fetch: Callable[[int, int], BinaryIO], size: int) -> None:
        self._fetch = fetch
        self._size = size
        self._position = 0
        self._stream: BinaryIO | None = None
        #: Where reads stop (exclusive); lower it before the first read to fetch less.
        self.end = size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        position = base + offset
        if position < 0:
            raise ValueError(f"negative seek position {position}")
        if position != self._position:
            self._drop()
            self._position = position
        return position

    def readinto(self, buffer: Any) -> int:
        wanted = min(len(buffer), self.end - self._position)
        if wanted <= 0:
            return 0
        if self._stream is None:
            self._stream = self._fetch(self._position, self.end)
        data = self._stream.read(wanted)
        memoryview(buffer).cast("B")[: len(data)] = data
        self._position += len(data)
        return len(data)

    def _drop(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            stream.close()

    def close(self) -> None:
        self._drop()
        super().close()
