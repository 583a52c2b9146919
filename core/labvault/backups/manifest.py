"""What comes out of a snapshot, checked where it enters, before anything is opened.

An archive can come from anyone, and whoever may write into a repository's target (a
bucket's owner, a NAS's users) controls the names in it. So every name read from an
archive (its members), a manifest (parts, tables, the snapshot's id) or a target's
listing is checked here to be a plain relative key (``/``-separated names of letters,
digits, ``.``, ``_`` and ``-``: no ``..``, nothing absolute, no NUL, no backslash, no
empty part) before any code opens it, and what fails is a :class:`ForgedSnapshot`.
"""

from __future__ import annotations

import re
from typing import Any

from labvault.backups.codec import BackupError
from labvault.plugin import check_backup_key

FORMAT = "labvault-backup"
#: 1: each part a whole object (archives, and repositories' snapshots until 0.x).
FORMAT_VERSION = 1
#: 2: a repository's snapshot: each part a list of chunks the repository keeps
#: (:mod:`~labvault.backups.chunking`); version 1 is still read.
CHUNKED_VERSION = 2
READ_VERSIONS = (FORMAT_VERSION, CHUNKED_VERSION)
#: A table's or column's name in a dump: a plain identifier.
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class ForgedSnapshot(BackupError):
    """A snapshot (or repository) holds a name or an entry labvault never writes."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"damaged or forged snapshot: {detail}")


def plain_key(name: object, what: str) -> str:
    """``name`` if it is a plain relative key; else :class:`ForgedSnapshot` naming
    ``what`` it is (e.g. "a part of the manifest")."""
    if isinstance(name, str):
        try:
            return check_backup_key(name)
        except ValueError:
            pass
    raise ForgedSnapshot(f"{what} is not a plain relative name: {name!r}")


def plain_name(name: object, what: str) -> str:
    """``name`` if it is a plain key of one part (no ``/``), such as a snapshot's id."""
    if isinstance(name, str) and "/" not in name:
        return plain_key(name, what)
    raise ForgedSnapshot(f"{what} is not a plain name: {name!r}")


def identifier(name: object, what: str) -> str:
    if isinstance(name, str) and _IDENTIFIER.fullmatch(name):
        return name
    raise ForgedSnapshot(f"{what} is not a plain identifier: {name!r}")


def content_entry(entry: object) -> tuple[str, int]:
    """A line of a contents list: [sha256, size]."""
    if (
        isinstance(entry, list)
        and len(entry) == 2
        and isinstance(entry[0], str)
        and _SHA256.fullmatch(entry[0])
        and _count(entry[1])
    ):
        return entry[0], entry[1]
    raise ForgedSnapshot(f"its contents list holds {str(entry)[:100]!r}, not a sha256 and size")


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def checked_manifest(manifest: object, snapshot: str | None = None) -> dict[str, Any]:
    """``manifest`` if it is one labvault writes (of snapshot ``snapshot``, when given):
    its format, id, revision, parts, tables and counts; else the reason it is not."""
    if not isinstance(manifest, dict) or (
        manifest.get("format") != FORMAT or manifest.get("format_version") not in READ_VERSIONS
    ):
        raise BackupError("not a labvault snapshot of a format this version reads")
    found = plain_name(manifest.get("snapshot"), "its manifest's snapshot id")
    if snapshot is not None and found != snapshot:
        raise ForgedSnapshot(f"the manifest of snapshot {snapshot} says it is {found}")
    plain_name(manifest.get("revision"), "its schema revision")
    parts = manifest.get("parts")
    if not isinstance(parts, dict):
        raise ForgedSnapshot("its manifest does not list its parts")
    for name, info in parts.items():
        plain_key(name, "the manifest's part")
        if not (
            isinstance(info, dict)
            and isinstance(info.get("sha256"), str)
            and _SHA256.fullmatch(info["sha256"])
            and _count(info.get("size"))
        ):
            raise ForgedSnapshot(f"the manifest's part {name} has no sha256 and size")
        chunks = info.get("chunks")
        if (manifest["format_version"] == CHUNKED_VERSION) != (chunks is not None):
            raise ForgedSnapshot(f"the manifest's part {name} is not of its format's shape")
        if chunks is not None:
            _check_chunks(name, chunks, info["size"])
    tables = manifest.get("tables")
    if not isinstance(tables, list):
        raise ForgedSnapshot("its manifest does not list its tables")
    for table in tables:
        if not isinstance(table, dict) or not _count(table.get("rows")):
            raise ForgedSnapshot(f"its manifest lists the table {str(table)[:100]!r}")
        name = identifier(table.get("name"), "the manifest's table")
        if table_part(name) not in parts:
            raise ForgedSnapshot(f"its manifest lists the table {name} but not its part")
    contents = manifest.get("contents")
    if not isinstance(contents, dict) or not (
        _count(contents.get("count")) and _count(contents.get("bytes"))
    ):
        raise ForgedSnapshot("its manifest does not count its contents")
    return manifest


def _check_chunks(name: str, chunks: object, size: int) -> None:
    """A part's chunks: a list of [sha256, size] whose sizes add up to the part's."""
    if not isinstance(chunks, list):
        raise ForgedSnapshot(f"the manifest's part {name} has no list of chunks")
    total = 0
    for chunk in chunks:
        if not (
            isinstance(chunk, list)
            and len(chunk) == 2
            and isinstance(chunk[0], str)
            and _SHA256.fullmatch(chunk[0])
            and _count(chunk[1])
        ):
            raise ForgedSnapshot(f"the manifest's part {name} lists the chunk {str(chunk)[:100]!r}")
        total += chunk[1]
    if total != size:
        raise ForgedSnapshot(f"the chunks of the manifest's part {name} do not add up to its size")


def table_part(name: str) -> str:
    """The part holding table ``name``'s rows."""
    return f"dump/{name}.jsonl"
