"""How a backup's objects are stored: compressed, then (with a key) encrypted.

Every object of a repository (a dump part, a file's content, a manifest) is the zlib
stream of its bytes; a strategy with a key seals that stream with AES-256-GCM in frames
of 1 MiB. Each frame's nonce is random and its associated data binds the object's
header, the frame's number and whether it is the last, and the object's *context* (the
repository gives the strategy and the object's key, so a snapshot's id and time), so
frames cannot be reordered, swapped between objects or cut off, and an object cannot
be copied or renamed to another key, without the tag check failing. The keys are
derived from the strategy's passphrase with HKDF and a random salt of the repository,
so two repositories never share a key. Names of contents are an HMAC of their sha256,
so the store learns nothing of the files either.

Streams are processed a chunk at a time: memory does not grow with an object's size.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import struct
import zlib
from collections.abc import Iterable, Iterator
from typing import BinaryIO, cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from labvault.errors import ServerFault

CHUNK = 1 << 20
MAGIC = b"LVB1"
NONCE_SIZE = 12
TAG_SIZE = 16
#: The fewest characters a key may have (a random one: ``openssl rand -base64 32``).
MIN_KEY_LENGTH = 32
_FRAME_HEADER = struct.Struct(">I")


class BackupError(ServerFault):
    """A backup, verification or restore that cannot go on; the message says why."""


class DamagedObject(BackupError):
    """An object whose bytes are not what was stored: damaged, or sealed with another key."""


class Passphrase:
    """A strategy's secret (from its environment variable), from which each repository
    derives its own :class:`Key` with its salt."""

    def __init__(self, secret: str) -> None:
        if len(secret) < MIN_KEY_LENGTH:
            raise BackupError(
                f"an encryption key needs at least {MIN_KEY_LENGTH} characters "
                "(make one with: openssl rand -base64 32)"
            )
        self._secret = secret.encode()

    def __repr__(self) -> str:
        return "Passphrase('********')"

    @classmethod
    def from_environment(cls, variable: str, strategy: str) -> Passphrase:
        secret = os.environ.get(variable)
        if not secret:
            raise BackupError(
                f"backup strategy {strategy} is encrypted with the key in the environment "
                f"variable {variable}, which is not set: without it nothing can be written "
                "or restored"
            )
        return cls(secret)

    def key(self, salt: bytes) -> Key:
        """The encryption and naming keys of the repository whose salt is ``salt``."""
        derived = HKDF(
            algorithm=hashes.SHA256(), length=64, salt=salt, info=b"labvault backup v2"
        ).derive(self._secret)
        return Key(derived)


class Key:
    """A repository's keys: one seals objects, the other names contents."""

    def __init__(self, derived: bytes) -> None:
        self._aead = AESGCM(derived[:32])
        self._naming = derived[32:]

    def name_of(self, sha256: str) -> str:
        """The stored name of a content: an HMAC, so equal files still share one object."""
        return hmac.new(self._naming, sha256.encode(), hashlib.sha256).hexdigest()

    def seal(self, chunks: Iterable[bytes], context: bytes = b"") -> Iterator[bytes]:
        """The sealed form of ``chunks``; it opens only with the same ``context``."""
        header = MAGIC + os.urandom(16)
        yield header
        index = 0
        pending: bytes | None = None
        for chunk in _rechunk(chunks):
            if pending is not None:
                yield self._frame(header, index, pending, False, context)
                index += 1
            pending = chunk
        yield self._frame(header, index, pending or b"", True, context)

    def _frame(self, header: bytes, index: int, data: bytes, last: bool, context: bytes) -> bytes:
        nonce = os.urandom(NONCE_SIZE)
        sealed = self._aead.encrypt(nonce, data, _associated(header, index, last, context))
        return _FRAME_HEADER.pack(len(sealed)) + nonce + sealed

    def open(self, stream: BinaryIO, context: bytes = b"") -> Iterator[bytes]:
        header = stream.read(len(MAGIC) + 16)
        if len(header) != len(MAGIC) + 16 or not header.startswith(MAGIC):
            raise DamagedObject("not an encrypted labvault backup object")
        index = 0
        frame = _read_frame(stream)
        while frame is not None:
            following = _read_frame(stream)
            nonce, sealed = frame[:NONCE_SIZE], frame[NONCE_SIZE:]
            associated = _associated(header, index, following is None, context)
            try:
                data = self._aead.decrypt(nonce, sealed, associated)
            except InvalidTag:
                raise DamagedObject(
                    "it does not open: sealed with another key, or for another place (copied "
                    "or renamed), or damaged"
                ) from None
            yield data
            index += 1
            frame = following
        if index == 0:
            raise DamagedObject("the encrypted object is cut short")


def _associated(header: bytes, index: int, last: bool, context: bytes) -> bytes:
    return header + struct.pack(">Q?", index, last) + context


def _read_frame(stream: BinaryIO) -> bytes | None:
    size_bytes = stream.read(_FRAME_HEADER.size)
    if not size_bytes:
        return None
    (size,) = _FRAME_HEADER.unpack(size_bytes.rjust(_FRAME_HEADER.size, b"\0"))
    if len(size_bytes) != _FRAME_HEADER.size or size > CHUNK + NONCE_SIZE + TAG_SIZE * 2:
        raise DamagedObject("the encrypted object is damaged (a frame's length is wrong)")
    return _read_exactly(stream, size + NONCE_SIZE)


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    parts = []
    while size:
        part = stream.read(size)
        if not part:
            raise DamagedObject("the encrypted object is cut short")
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


def _rechunk(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The same bytes in pieces of at most CHUNK."""
    for chunk in chunks:
        for start in range(0, len(chunk), CHUNK):
            yield chunk[start : start + CHUNK]


def read_chunks(stream: BinaryIO) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK):
        yield chunk


def compress(chunks: Iterable[bytes], level: int) -> Iterator[bytes]:
    compressor = zlib.compressobj(level)
    for chunk in chunks:
        if out := compressor.compress(chunk):
            yield out
    yield compressor.flush()


def decompress(chunks: Iterable[bytes]) -> Iterator[bytes]:
    decompressor = zlib.decompressobj()
    try:
        for chunk in chunks:
            # bounded output per call: a small damaged or hostile object cannot fill memory
            data = decompressor.decompress(chunk, CHUNK)
            while data:
                yield data
                data = decompressor.decompress(decompressor.unconsumed_tail, CHUNK)
        if tail := decompressor.flush():
            yield tail
    except zlib.error as error:
        raise DamagedObject(f"the object is damaged: {error}") from None
    if not decompressor.eof:
        raise DamagedObject("the object is cut short")


def encode(stream: BinaryIO, level: int, key: Key | None, context: bytes = b"") -> BinaryIO:
    """What is stored for the bytes of ``stream``, as a stream (sealed for ``context``)."""
    chunks = compress(read_chunks(stream), level)
    return chunk_stream(key.seal(chunks, context) if key else chunks)


def decode(stream: BinaryIO, key: Key | None, context: bytes = b"") -> Iterator[bytes]:
    """The bytes kept in a stored object (sealed for ``context``)."""
    return decompress(key.open(stream, context) if key else read_chunks(stream))


class ChunkStream(io.RawIOBase):
    """A readable binary stream of what an iterator of bytes yields."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, target: memoryview) -> int:  # type: ignore[override]
        while not self._buffer:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._buffer = memoryview(chunk)
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def chunk_stream(chunks: Iterable[bytes]) -> BinaryIO:
    """A buffered binary stream of what ``chunks`` yields."""
    return cast(BinaryIO, io.BufferedReader(ChunkStream(chunks), CHUNK))


class Digest:
    """A sha256 and byte count of everything passed through :meth:`update` or :meth:`feed`."""

    def __init__(self) -> None:
        self.hash = hashlib.sha256()
        self.size = 0

    def update(self, data: bytes) -> None:
        self.hash.update(data)
        self.size += len(data)

    def feed(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self.update(chunk)
            yield chunk

    @property
    def hexdigest(self) -> str:
        return self.hash.hexdigest()
