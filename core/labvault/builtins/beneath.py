"""Opening a path beneath a folder of this machine without ever leaving it.

Each name is opened relative to the folder opened before it (``openat``), never
following a link (``O_NOFOLLOW``); a link met on the way is read (``readlinkat``) and
its target walked the same way from the folder it is in. So what is opened is what was
checked, however the links change meanwhile, and a ``..`` of a link cannot climb above
the root. (Linux's ``openat2`` with ``RESOLVE_BENEATH`` does the same in the kernel, but
Python does not offer it.)
"""

from __future__ import annotations

import errno
import os
from collections import deque
from dataclasses import dataclass

#: Links followed in one path at most, as Linux's own lookup (then ELOOP).
MAX_LINKS = 40
#: How folders on the way are held: O_PATH needs only the right to pass through them,
#: as a lookup by name does (where there is no O_PATH, read access it is).
_FOLDER = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | os.O_CLOEXEC


class Outside(Exception):
    """The path leads out of the root through a link."""


@dataclass(frozen=True)
class Root:
    """The folder to stay beneath: its real path, and the path the deployer gave it by
    (absolute link targets may use either)."""

    real: str
    given: str

    def relative(self, target: str) -> list[str]:
        """The names of an absolute link target below the root; Outside if it is not."""
        for root in (self.real, os.path.normpath(self.given)):
            if target == root or target.startswith(root.rstrip("/") + "/"):
                return target[len(root) :].split("/")  # a ".." in them is walked, too
        raise Outside(target)


def open_beneath(root: Root, path: str, flags: int = os.O_RDONLY) -> tuple[int, str]:
    """A file descriptor of what ``path`` (names separated by ``/``, relative to the
    root) leads to, opened with ``flags``, and its real path relative to the root.

    Raises Outside when a link leads out, OSError as ``open`` does (ELOOP after
    MAX_LINKS links). The last name is opened with O_NONBLOCK, so a pipe cannot block.
    """
    folders: list[tuple[str, int]] = []  # the folders walked into, below the root
    names = deque(name for name in path.split("/") if name)
    links = 0
    top = os.open(root.given, _FOLDER)
    try:
        while names:
            name = names.popleft()
            if name in ("", "."):
                continue
            if name == "..":  # only from a link's target: the cleaned path has none
                if not folders:
                    raise Outside(name)
                os.close(folders.pop()[1])
                continue
            here = folders[-1][1] if folders else top
            last = not names
            how = flags | os.O_CLOEXEC | os.O_NONBLOCK if last else _FOLDER
            try:
                found = os.open(name, how | os.O_NOFOLLOW, dir_fd=here)
            except OSError as error:
                # O_NOFOLLOW refuses a link with ELOOP, or with ENOTDIR if O_DIRECTORY
                if error.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                target = _link_target(name, here, error)
                links += 1
                if links > MAX_LINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path) from None
                if target.startswith("/"):
                    for _, folder in folders:
                        os.close(folder)
                    folders = []
                    names.extendleft(reversed(root.relative(target)))
                else:
                    names.extendleft(reversed(target.split("/")))
                continue
            if last:
                return found, "/".join([*(name for name, _ in folders), name])
            folders.append((name, found))
        # the path ended on a folder (it was the root, or a link's target ended in ..)
        here = folders[-1][1] if folders else top
        return os.open(".", flags | os.O_CLOEXEC, dir_fd=here), "/".join(n for n, _ in folders)
    finally:
        for _, folder in folders:
            os.close(folder)
        os.close(top)


def _link_target(name: str, folder: int, refused: OSError) -> str:
    """What the link ``name`` in ``folder`` points to; ``refused`` (the open's error)
    if it is no link (ENOTDIR: a file where a folder should be)."""
    try:
        return os.readlink(name, dir_fd=folder)
    except OSError as error:
        if error.errno == errno.EINVAL:  # not a link (or no longer one)
            raise refused from None
        raise
