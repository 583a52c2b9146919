"""Garbage collection of a file store's content, and files written whole.

The store itself is a plugin type (:class:`labvault.plugin.FileStore`, configured by
``FILE_STORE``); the built-in ``local`` one is :mod:`labvault.builtins.store_local`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from labvault.files import DEFAULT_GRACE_SECONDS
from labvault.plugin import FileStore

__all__ = ["GcReport", "collect_content", "written_whole"]


@dataclass
class GcReport:
    """What :func:`collect_content` removed (or would remove, in a dry run).

    ``bytes_freed`` counts removed content and what abandoned writes left behind.
    """

    removed: list[str] = field(default_factory=list)
    kept: int = 0
    bytes_freed: int = 0
    temp_files_removed: int = 0


def collect_content(
    store: FileStore,
    referenced: Callable[[str], bool] | AbstractSet[str],
    *,
    dry_run: bool = False,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
) -> GcReport:
    """Remove content of ``store`` nothing refers to, and what abandoned writes left.

    ``referenced`` answers whether the database refers to a digest: a function, or the
    set of all referenced digests read before the sweep. Content stored (again) within
    ``grace_seconds`` is kept: an upload in flight, or one whose row is not committed
    yet, is younger than that.
    """
    is_referenced = referenced if callable(referenced) else referenced.__contains__
    report = GcReport()
    cutoff = time.time() - grace_seconds
    for info in store.list():
        if is_referenced(info.sha256) or info.modified > cutoff:
            report.kept += 1
            continue
        if dry_run or store.delete(info.sha256, unless_modified_after=cutoff):
            report.removed.append(info.sha256)
            report.bytes_freed += info.size
        elif store.exists(info.sha256):  # stored again meanwhile
            report.kept += 1
    swept, swept_bytes = store.sweep(cutoff, dry_run=dry_run)
    report.temp_files_removed += swept
    report.bytes_freed += swept_bytes
    return report


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
