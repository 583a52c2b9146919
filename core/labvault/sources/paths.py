"""What a file source serves: one rule for the listing and for copying files.

A path is relative, ``/``-separated, without ``..``; no name on it matches the
instance's ``excludes`` (as a name or as the path from the root); it is at most
``max_depth`` names deep. Where a link leads is checked against the same rule, on what
the source reports it reached when it opened it (the source itself keeps every link
inside its root, see :class:`~labvault.plugin.FileSource`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Any

from labvault.errors import BadPath, NotFound
from labvault.plugin import FileSource, LeadsOutside, OpenedFile, RemoteEntry, relative_to_root


class NotServed(NotFound):
    """A path the source's ``excludes`` or ``max_depth`` leave out of it (404)."""


def clean_path(path: str) -> str:
    """``path`` as the sources get it: relative, ``/``-separated, no ``.`` parts."""
    if path.startswith("/") or "\\" in path or "\x00" in path:
        raise BadPath(f"{path!r}: paths are relative to the source's root, with '/' only")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise BadPath(f"{path!r}: '..' is not allowed in a path")
    return "/".join(parts)


def excluding_pattern(options: Mapping[str, Any], path: str) -> str | None:
    """The ``excludes`` pattern that matches the last name of ``path`` or ``path``."""
    name = path.rsplit("/", 1)[-1]
    for pattern in options["excludes"]:
        if fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(path, pattern):
            return str(pattern)
    return None


def _why_not_served(options: Mapping[str, Any], path: str) -> str | None:
    names = path.split("/") if path else []
    if len(names) > options["max_depth"]:
        return f"it is deeper than the source's max_depth ({options['max_depth']})"
    for depth in range(1, len(names) + 1):
        pattern = excluding_pattern(options, "/".join(names[:depth]))
        if pattern is not None:
            return f"{names[depth - 1]!r} is excluded by the pattern {pattern!r}"
    return None


def served_path(name: str, source: FileSource, path: str) -> str:
    """The cleaned ``path`` if the source serves it; BadPath or NotServed if not."""
    cleaned = clean_path(path)
    why = _why_not_served(source.options, cleaned)
    if why is not None:
        raise NotServed(f"{cleaned!r} is not served by the file source {name}: {why}")
    return cleaned


def check_reached(name: str, source: FileSource, entry: RemoteEntry) -> None:
    """Refuse what a link led to: out of the root (LeadsOutside), or a place the source
    does not serve (NotServed)."""
    if entry.link_target is None:
        return
    reached = relative_to_root(source.root(), entry.link_target)
    if reached is None:
        raise LeadsOutside(name, entry.path)
    why = _why_not_served(source.options, reached)
    if why is not None:
        raise NotServed(
            f"{entry.path!r} is not served by the file source {name}: it leads to "
            f"{reached!r}, and {why}"
        )


def stat_served(name: str, source: FileSource, path: str) -> RemoteEntry:
    """What a served path leads to, if the source serves that too."""
    entry = source.stat(served_path(name, source, path))
    check_reached(name, source, entry)
    return entry


def open_served(name: str, source: FileSource, path: str) -> OpenedFile:
    """The regular file a served path leads to, opened, if the source serves it too:
    checked on what was opened, before a byte of it is read."""
    opened = source.open(served_path(name, source, path))
    try:
        check_reached(name, source, opened.entry)
    except BaseException:
        opened.stream.close()
        raise
    return opened
