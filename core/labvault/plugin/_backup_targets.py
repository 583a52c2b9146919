"""Backup targets: the base class and the keys a target keeps objects under."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

from labvault.plugin._types import PluginType

BACKUP_KEY_PATTERN = r"^(?!.*(?:^|/)\.{1,2}(?:/|$))[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*\Z"
r"""A backup target's keys: ``/``-separated names of letters, digits, ``.``, ``_`` and ``-``
(no empty, ``.`` or ``..`` part), at most 1000 characters. It ends in ``\Z``, not ``$``,
which would let a trailing newline pass."""


def check_backup_key(key: str) -> str:
    """``key`` if it is a valid backup key; ``ValueError`` otherwise (a bug of the caller)."""
    if len(key) > 1000 or not re.match(BACKUP_KEY_PATTERN, key):
        raise ValueError(f"not a backup key: {key!r}")
    return key


class BackupTarget(PluginType):
    """Somewhere backups are kept (a local folder, an object store, ...): a small object
    store of keys and their bytes. Snapshots, deduplication, retention, encryption and
    verification are the core's; a target only keeps objects.

    Keys are ``/``-separated names (see :func:`check_backup_key`); the core checks them
    before a call, and checks the keys ``list`` returns again (a listing is the store's
    word). A store that has links (a folder) must not follow them. Failures of the
    store raise :class:`~labvault.plugin.Unavailable` with a message naming the target.
    """

    def put(self, key: str, stream: BinaryIO) -> int:
        """Keep everything ``stream`` yields under ``key`` (replacing what was there), all
        or nothing: no reader ever sees part of it. Returns the bytes kept."""
        raise NotImplementedError

    def get(self, key: str) -> BinaryIO:
        """A stream of the object at ``key`` (the caller closes it); NotFound if none."""
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        """Whether an object is kept at ``key``."""
        raise NotImplementedError

    def list(self, prefix: str = "") -> Iterator[str]:
        """The keys that start with ``prefix``, in sorted order."""
        raise NotImplementedError

    def delete(self, key: str) -> None:
        """Remove the object at ``key``; a key with no object is no error."""
        raise NotImplementedError
