"""Paths in a file source: cleaned in the core; where a link led is checked on what the
source reports it reached when it opened it (the source itself keeps every link inside
its root, see :class:`~labvault.plugin.FileSource`).
"""

from __future__ import annotations

from labvault.errors import BadPath
from labvault.plugin import FileSource, LeadsOutside, OpenedFile, RemoteEntry, relative_to_root


def clean_path(path: str) -> str:
    """``path`` as the sources get it: relative, ``/``-separated, no ``.`` parts."""
    if path.startswith("/") or "\\" in path or "\x00" in path:
        raise BadPath(f"{path!r}: paths are relative to the source's root, with '/' only")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise BadPath(f"{path!r}: '..' is not allowed in a path")
    return "/".join(parts)


def check_reached(name: str, source: FileSource, entry: RemoteEntry) -> None:
    """Refuse what a link led to out of the root (LeadsOutside)."""
    if entry.link_target is None:
        return
    if relative_to_root(source.root(), entry.link_target) is None:
        raise LeadsOutside(name, entry.path)


def stat_served(name: str, source: FileSource, path: str) -> RemoteEntry:
    """What a path leads to, if it stays inside the root."""
    entry = source.stat(clean_path(path))
    check_reached(name, source, entry)
    return entry


def open_served(name: str, source: FileSource, path: str) -> OpenedFile:
    """The regular file a path leads to, opened, if it stays inside the root: checked on
    what was opened, before a byte of it is read."""
    opened = source.open(clean_path(path))
    try:
        check_reached(name, source, opened.entry)
    except BaseException:
        opened.stream.close()
        raise
    return opened
