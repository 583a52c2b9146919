"""Cutting a dump part into chunks that stay the same while their rows do.

A repository keeps a snapshot's parts as chunks named by their sha256 (like contents),
so a chunk whose rows did not change since the last snapshot is stored once, and ten
snapshots of an unchanged database cost one dump, not ten. For that, a chunk's bounds
must not move when rows elsewhere change: a part is cut only at the end of a line
(a row), and only after a row whose *key* (its primary key; for other parts the line
itself) hashes to a cut point. An edited row leaves every bound where it was; an
inserted or deleted row moves none but those of its own chunk. Chunks are kept between
MIN_CHUNK and MAX_CHUNK bytes (a row larger than MAX_CHUNK is a chunk of its own), so
a small table is one chunk and a large one has about one per CUT_EVERY rows past the
minimum.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field

MIN_CHUNK = 256 << 10
MAX_CHUNK = 4 << 20
#: About one row in CUT_EVERY (by its key's hash) ends a chunk once MIN_CHUNK is reached.
CUT_EVERY = 64


@dataclass(frozen=True)
class Chunk:
    sha256: str
    size: int
    #: where it starts in its part
    offset: int


@dataclass
class Chunker:
    """Chunk bounds of a part's lines, fed one at a time with :meth:`add`; :meth:`close`
    ends the last chunk."""

    chunks: list[Chunk] = field(default_factory=list)
    _hash: hashlib._Hash = field(default_factory=hashlib.sha256)
    _size: int = 0
    _offset: int = 0

    def add(self, line: bytes, key: bytes) -> None:
        """Add ``line`` (ending in a newline); ``key`` decides whether a chunk ends here."""
        self._hash.update(line)
        self._size += len(line)
        if self._size >= MAX_CHUNK or (
            self._size >= MIN_CHUNK and zlib.crc32(key) % CUT_EVERY == 0
        ):
            self._cut()

    def add_block(self, data: bytes) -> None:
        """Add bytes that need no bounds of their own (a small part's whole text)."""
        self._hash.update(data)
        self._size += len(data)

    def close(self) -> list[Chunk]:
        """Every chunk (none for an empty part)."""
        if self._size:
            self._cut()
        return self.chunks

    def _cut(self) -> None:
        self.chunks.append(Chunk(self._hash.hexdigest(), self._size, self._offset))
        self._offset += self._size
        self._hash = hashlib.sha256()
        self._size = 0
