"""File sources: the base class, what a source lists and opens, and the options every
type takes."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, ClassVar, NamedTuple

import marshmallow as ma

from labvault.errors import BadPath
from labvault.plugin._types import PluginType


@dataclass(frozen=True)
class RemoteEntry:
    """One file or folder a file source lists, stats or opens.

    ``path`` is relative to the source's root, with ``/`` between names (``""`` is the
    root itself): the path asked for. ``modified`` is in seconds since the epoch. When a
    link led elsewhere (the entry itself is one, or a folder on its path),
    ``link_target`` is the absolute real path reached on the source's side, so that the
    core can refuse one out of the root and apply ``excludes`` and ``max_depth`` to where
    it leads; ``is_dir``, ``size`` and ``modified`` then describe what it leads to.
    """

    path: str
    is_dir: bool
    size: int | None = None
    modified: float | None = None
    link_target: str | None = None

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


class OpenedFile(NamedTuple):
    """A file a source opened: what it is, read from the open file itself (not looked up
    again by name), and its content. The caller closes ``stream``."""

    entry: RemoteEntry
    stream: IO[bytes]


def relative_to_root(root: str, real: str) -> str | None:
    """``real`` relative to ``root`` (``""`` for the root itself) if it is ``root`` or
    below it, else None. Both are absolute posix paths; ``..`` in them is resolved as
    text, so pass real paths (links resolved)."""
    root, real = posixpath.normpath(root), posixpath.normpath(real)
    if real == root:
        return ""
    prefix = root.rstrip("/") + "/"
    return real[len(prefix) :] if real.startswith(prefix) else None


class LeadsOutside(BadPath):
    """A path that leads, through a link, out of the file source's root (400)."""

    def __init__(self, source: str, path: str) -> None:
        super().__init__(f"{path!r} leads outside the file source {source}")


class FileSourceOptions(ma.Schema):
    """Options every file source takes; a type's ``OptionsSchema`` extends this one.

    The core walks the tree (``list`` folder by folder) to cache its listing: at most
    ``max_depth`` folders deep and ``max_entries`` entries (a larger tree is an error
    naming the option), leaving out names matching an ``excludes`` pattern (fnmatch, on
    the name or the path from the root, e.g. ``".*"``, ``"*.tmp"``, ``"raw/scratch"``).
    What the listing leaves out cannot be copied either, also not through a link.
    """

    class Meta:
        unknown = ma.RAISE

    description = ma.fields.String(load_default="")
    max_depth = ma.fields.Integer(load_default=32, validate=ma.validate.Range(min=1, max=1000))
    max_entries = ma.fields.Integer(
        load_default=250_000, validate=ma.validate.Range(min=1, max=10_000_000)
    )
    excludes = ma.fields.List(
        ma.fields.String(validate=ma.validate.Length(min=1)), load_default=list
    )


class FileSource(PluginType):
    """A place raw data is read from (an SSH server, a mounted share, ...).

    A source only reads: it lists a folder, stats a path and opens a file. Each is given
    a path relative to its root that the core has checked with the rule the listing
    follows: no ``..``, no leading ``/``, nothing the instance's ``excludes`` hide, at
    most ``max_depth`` names deep.

    Keeping what a path *leads to* inside the root is the source's part, as it opens:
    people who may write to a share can put links in it, and change them at any moment.
    So never check a path and then open it again by name (a link switched in between
    is followed, out of the root). Follow a link only while its target lies inside the
    root, checked on what is opened itself, and raise :class:`LeadsOutside` for one
    that leads out; report where a followed link led as ``link_target``, so that the
    core applies ``excludes`` and ``max_depth`` there too. ``FileSourceContract`` has
    the tests, a link flipped between inside and outside during hundreds of opens among
    them.

    The core caches listings, copies files into the store and keeps them fresh. Each
    method raises the core's errors so that every source answers alike:
    :class:`~labvault.plugin.NotFound` (no such path), :class:`~labvault.plugin.Forbidden`
    (the source may not read it), :class:`~labvault.plugin.Unavailable` (unreachable,
    timed out; the message names the host), :class:`LeadsOutside`.
    """

    OptionsSchema: ClassVar[type[ma.Schema]] = FileSourceOptions

    def root(self) -> str:
        """The absolute real path of the source's root on its side (links resolved)."""
        raise NotImplementedError

    def list(self, path: str) -> Iterable[RemoteEntry]:
        """The entries directly inside the folder ``path``, in any order. A link's entry
        describes what it leads to (with ``link_target``); a link that dangles or leads
        out of the root is left out."""
        raise NotImplementedError

    def stat(self, path: str) -> RemoteEntry:
        """What ``path`` leads to: folder or file, size, modified time."""
        raise NotImplementedError

    def open(self, path: str) -> OpenedFile:
        """The regular file ``path`` leads to, opened, and its entry read from the open
        file. A folder, pipe or device raises :class:`~labvault.plugin.NotAFile`.
        Reading the stream may raise :class:`~labvault.plugin.Unavailable` when the
        source goes away."""
        raise NotImplementedError

    def close(self) -> None:
        """Let go of connections; the source opens new ones when it is used again
        (``labvault sources sync`` calls it when it is done with a source)."""
