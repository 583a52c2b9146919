"""Paths in a file source: cleaned in the core, and kept inside the source's root.

Every type gets the same checks: a path is relative, ``..`` is refused, and what a path
really leads to (links resolved by the source) must lie under the source's root.
"""

from __future__ import annotations

import posixpath

from labvault.errors import DomainError
from labvault.plugin import FileSource


class BadPath(DomainError):
    """A path that is absolute, climbs with ``..`` or leads out of the source (400)."""

    status = 400


def clean_path(path: str) -> str:
    """``path`` as the sources get it: relative, ``/``-separated, no ``.`` parts."""
    if path.startswith("/") or "\\" in path or "\x00" in path:
        raise BadPath(f"{path!r}: paths are relative to the source's root, with '/' only")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise BadPath(f"{path!r}: '..' is not allowed in a path")
    return "/".join(parts)


def inside(root: str, real: str) -> bool:
    """Whether the absolute path ``real`` is ``root`` or below it (posix paths)."""
    root, real = posixpath.normpath(root), posixpath.normpath(real)
    return real == root or real.startswith(root.rstrip("/") + "/")


def resolve(name: str, source: FileSource, path: str) -> str:
    """The cleaned ``path`` once the source says it leads to a place under its root."""
    cleaned = clean_path(path)
    if not inside(source.root(), source.real_path(cleaned)):
        raise BadPath(f"{cleaned!r} leads outside the file source {name}")
    return cleaned
