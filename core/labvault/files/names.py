"""Naming what is stored: a safe file name for any name a client sends, and the media
type of stored content (by its name's extension, else by its first bytes)."""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from pathlib import PurePosixPath

FALLBACK_MEDIA_TYPE = "application/octet-stream"
FALLBACK_NAME = "file"
MAX_NAME_BYTES = 255
#: Longer "extensions" are part of the name (``report.final-version-for-review``).
MAX_EXTENSION_BYTES = 32
_PATH_SEPARATORS = re.compile(r"[/\\]")
# line breaks, NUL and other controls, bidi overrides that disguise an extension, BOMs
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# only Python's own table: every server answers the same, whatever /etc/mime.types says
_MEDIA_TYPES = mimetypes.MimeTypes()
_COMPRESSED = {
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
    "compress": "application/x-compress",
}
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"%PDF-", "application/pdf"),
    (b"\x89HDF\r\n\x1a\n", "application/x-hdf5"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
)


def safe_filename(name: str) -> str:
    r"""The name without directories, control characters or quotes, at most 255 UTF-8 bytes.

    Meant for any name a client sends: ``"../../etc/passwd"`` becomes ``"passwd"``,
    ``"C:\data\run.csv"`` becomes ``"run.csv"``; a name with nothing left becomes
    ``"file"``. A name too long keeps its extension.
    """
    name = unicodedata.normalize("NFC", name)
    name = _PATH_SEPARATORS.split(name)[-1]
    name = "".join(
        char
        for char in name
        if char != '"' and unicodedata.category(char) not in _UNSAFE_CATEGORIES
    ).strip()
    if not name.strip("."):
        return FALLBACK_NAME
    if len(name.encode()) <= MAX_NAME_BYTES:
        return name
    stem, extension = split_extension(name)
    budget = MAX_NAME_BYTES - len(extension.encode())
    stem = stem.encode()[:budget].decode("utf-8", "ignore").rstrip()
    return (stem or FALLBACK_NAME) + extension


def split_extension(name: str) -> tuple[str, str]:
    stem, dot, extension = name.rpartition(".")
    if not dot or not extension or len(extension.encode()) >= MAX_EXTENSION_BYTES:
        return name, ""
    return stem, dot + extension


def guess_media_type(name: str, head: bytes = b"") -> str:
    """The media type by the name's extension, else by ``head``'s magic bytes.

    ``head`` is the content's first bytes (a few dozen suffice). Compressed files are
    their compression's type (``run.csv.gz`` is ``application/gzip``).
    """
    probe = FALLBACK_NAME + "".join(PurePosixPath(safe_filename(name)).suffixes)
    media_type, encoding = _MEDIA_TYPES.guess_type(probe, strict=False)
    if encoding is not None:
        return _COMPRESSED.get(encoding, FALLBACK_MEDIA_TYPE)
    if media_type is not None:
        return media_type
    for signature, signed_type in _SIGNATURES:
        if head.startswith(signature):
            return signed_type
    return FALLBACK_MEDIA_TYPE
