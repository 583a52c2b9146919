"""Copying every content of one file store into another and verifying the copies
(``labvault files move``): how a server's files go from its folder to an object store,
or back.

A content the target holds already (same sha256 and size) is not copied again, so a
move that stopped goes on where it stopped. Every copy is hashed as the target stores
it; a content whose bytes no longer hash to its name (damaged in the source) is
reported, not copied under that name. Then each content is read back from the target
and hashed. The source is left as it is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from labvault.plugin import ContentInfo, FileStore

_CHUNK = 1 << 20


@dataclass
class MoveReport:
    """What :func:`move_contents` did."""

    copied: int = 0
    bytes_copied: int = 0
    #: Contents the target held already.
    present: int = 0
    #: Contents read back from the target and found whole.
    verified: int = 0
    #: One line for each content that could not be copied or verified.
    problems: list[str] = field(default_factory=list)


def _read_digest(store: FileStore, sha256: str) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with store.open(sha256) as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def move_contents(
    source: FileStore,
    target: FileStore,
    *,
    verify: bool = True,
    progress: Callable[[ContentInfo, str], None] | None = None,
) -> MoveReport:
    """Copy every content of ``source`` that ``target`` lacks, then (``verify``) read
    each back from ``target`` and check its sha256 and size. ``progress(info, what)``
    is told of each content: ``"copied"``, ``"present"`` or ``"failed"``."""
    report = MoveReport()
    for info in source.list():
        held = target.stat(info.sha256)
        if held is not None and held.size == info.size:
            report.present += 1
            what = "present"
        else:
            with source.open(info.sha256) as stream:
                stored = target.store(stream)
            if (stored.sha256, stored.size) != (info.sha256, info.size):
                report.problems.append(
                    f"{info.sha256}: damaged in {source.location}: its {stored.size} bytes "
                    f"hash to {stored.sha256}"
                )
                if progress:
                    progress(info, "failed")
                continue
            report.copied += 1
            report.bytes_copied += info.size
            what = "copied"
        if progress:
            progress(info, what)
        if verify:
            digest, size = _read_digest(target, info.sha256)
            if (digest, size) == (info.sha256, info.size):
                report.verified += 1
            else:
                report.problems.append(
                    f"{info.sha256}: read back from {target.location}, its {size} bytes "
                    f"hash to {digest}"
                )
    return report
