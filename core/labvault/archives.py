"""Zip archives (.xlsx workbooks, .docx documents, ...) checked before anything in them is
unpacked: a small upload may unpack to gigabytes (a "zip bomb") and hold a worker for
as long as that takes.

The check reads only the archive's central directory: the size each part declares is
the most Python's :mod:`zipfile` unpacks of it (it stops there, and a part whose data
is longer fails its CRC check), so the declared sizes bound the work of every reader
built on zipfile (openpyxl, python-docx, ...). A part that declares more packed bytes
than the file holds would pass the ratio check with a lie, and is refused as damaged.

Every block type and importer that opens an archive calls :func:`check_zip_archive`
first, with limits its deployer can set (``max_unpacked_size``,
``max_compression_ratio``); plugins reach it through :mod:`labvault.plugin`.
"""

from __future__ import annotations

import os
import zipfile
from typing import IO

from labvault.errors import Invalid

MIB = 1024**2
DEFAULT_MAX_COMPRESSION_RATIO = 200
"""The default ``max_compression_ratio`` of :func:`check_zip_archive`. Real spreadsheets
and documents pack about 5 to 20 times; a bomb packs up to 1032 times (deflate's limit),
repeated cells about 250 times."""
#: Parts smaller than this are not held to the ratio: small XML parts (styles, a few
#: shared strings) may well pack 1000:1, and unpack to little.
RATIO_CHECKED_FROM = 1 * MIB
#: More parts than any document has; each costs the reader memory before it unpacks any.
MAX_PARTS = 10_000
_ZIP_MAGIC = b"PK"


def check_zip_archive(
    stream: IO[bytes],
    *,
    name: str,
    max_unpacked_size: int,
    max_compression_ratio: int = DEFAULT_MAX_COMPRESSION_RATIO,
    max_parts: int = MAX_PARTS,
) -> list[zipfile.ZipInfo]:
    """The parts of the zip archive in ``stream`` (seekable; left at its start), or
    :class:`~labvault.errors.Invalid` naming ``name`` (e.g. ``"run.xlsx"``) when it is
    no zip archive, is damaged, or would unpack to more than the limits allow:

    - more than ``max_parts`` parts (default :data:`MAX_PARTS`: more than any document
      has; an archive of a lab's records may have more);
    - all its parts together to more than ``max_unpacked_size`` bytes;
    - one part of at least :data:`RATIO_CHECKED_FROM` bytes to more than
      ``max_compression_ratio`` times its packed size.

    Nothing is unpacked: the central directory alone is read, in well under a second
    whatever the archive declares.
    """
    stream.seek(0)
    magic = stream.read(len(_ZIP_MAGIC))
    length = stream.seek(0, os.SEEK_END)
    stream.seek(0)
    try:
        with zipfile.ZipFile(stream) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as error:
        if magic == _ZIP_MAGIC:
            raise Invalid(f"{name} is damaged or cut short ({_said(error)})") from None
        raise Invalid(f"{name} is not a zip archive") from None
    finally:
        stream.seek(0)
    if len(parts) > max_parts:
        raise Invalid(f"{name} has {len(parts)} parts: more than {max_parts}")
    if sum(part.compress_size for part in parts) > length:
        raise Invalid(f"{name} is damaged: its parts declare more packed bytes than it holds")
    unpacked = sum(part.file_size for part in parts)
    if unpacked > max_unpacked_size:
        raise Invalid(
            f"{name} unpacks to {unpacked} bytes, more than max_unpacked_size ({max_unpacked_size})"
        )
    for part in parts:
        ratio = part.file_size / max(part.compress_size, 1)
        if part.file_size >= RATIO_CHECKED_FROM and ratio > max_compression_ratio:
            raise Invalid(
                f"{name}: its part {part.filename} unpacks to {part.file_size} bytes, "
                f"{ratio:.0f} times its packed size (more than max_compression_ratio, "
                f"{max_compression_ratio}): refused as a possible zip bomb"
            )
    return parts


def _said(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
