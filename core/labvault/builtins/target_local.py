"""The ``local`` backup target: a folder of this machine (a second disk, a mounted NAS).

An object is written to a temporary file under ``.incoming/`` in the folder, fsynced and
renamed into place, so a reader (or a restore after a crash) never sees part of one.
Keys are opened one folder at a time without following links (see :class:`LocalFolder`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import marshmallow as ma

from labvault.plugin import BackupTarget, NotFound, Unavailable, check_backup_key, hookimpl

CHUNK = 1 << 20
INCOMING = ".incoming"
#: A temporary file this old is a put that was killed (a backup's run holds its lock).
STALE_SECONDS = 24 * 3600


class LocalOptions(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    path = ma.fields.String(
        required=True,
        validate=ma.validate.Regexp(r"^/", error="must be an absolute path"),
        metadata={"description": "the folder backups are kept in, e.g. /mnt/backup/labvault"},
    )


#: A folder on a key's way, opened without following a link (nor made through one).
_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class LocalFolder(BackupTarget):
    """Keys are paths under the folder. Every key is opened one folder at a time from the
    root, never through a link (``O_NOFOLLOW``): whoever may write into the folder (a
    NAS's other users) cannot lead a backup, a restore or retention elsewhere by putting
    a link in it. A link met on the way is an error; ``list`` leaves links out."""

    name = "local"
    description = "A folder of the server's machine"
    OptionsSchema = LocalOptions

    @property
    def root(self) -> Path:
        return Path(self.options["path"])

    def _failure(self, doing: str, error: OSError) -> Unavailable:
        if error.errno in (errno.ELOOP, errno.ENOTDIR):
            return Unavailable(
                f"backup target {self.instance_name}: cannot {doing}: it leads through a link "
                f"or a file ({error.filename}), which a backup folder must not hold"
            )
        return Unavailable(f"backup target {self.instance_name}: cannot {doing}: {error}")

    @contextlib.contextmanager
    def _folders(self, key: str, *, create: bool = False) -> Iterator[tuple[list[int], str]]:
        """The open folders from the root to the one holding ``key``'s object (each
        opened in the one before), and the object's name in the last; missing folders
        are made with ``create``, else FileNotFoundError."""
        *path, name = check_backup_key(key).split("/")
        opened = [os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)]
        try:
            for folder in path:
                if create:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(folder, dir_fd=opened[-1])
                opened.append(os.open(folder, _FOLDER, dir_fd=opened[-1]))
            yield opened, name
        finally:
            for descriptor in opened:
                os.close(descriptor)

    def put(self, key: str, stream: BinaryIO) -> int:
        doing = f"write {check_backup_key(key)}"
        incoming, temp, out = self._do(doing, self._incoming_file)
        try:
            size = 0
            # the stream's own failures pass as they are; the folder's become Unavailable
            while chunk := stream.read(CHUNK):
                self._do(doing, out.write, chunk)
                size += len(chunk)
            self._do(doing, out.flush)
            self._do(doing, os.fsync, out.fileno())
            out.close()
            self._do(doing, self._rename, incoming, temp, key)
        except BaseException:
            out.close()
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=incoming)
            raise
        finally:
            os.close(incoming)
        return size

    def _incoming_file(self) -> tuple[int, str, BinaryIO]:
        """The open ``.incoming`` folder, and a new file in it: its name and stream."""
        self.root.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(self.root / INCOMING)
        incoming = os.open(self.root / INCOMING, _FOLDER)
        try:
            self._sweep(incoming)
            temp = f"tmp{secrets.token_hex(8)}"
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            descriptor = os.open(temp, flags, 0o600, dir_fd=incoming)
        except BaseException:
            os.close(incoming)
            raise
        return incoming, temp, os.fdopen(descriptor, "wb")

    def _rename(self, incoming: int, temp: str, key: str) -> None:
        for attempt in (1, 2):
            with self._folders(key, create=True) as (folders, name):
                try:
                    os.replace(temp, name, src_dir_fd=incoming, dst_dir_fd=folders[-1])
                except FileNotFoundError:  # a delete removed the folder, left empty, meanwhile
                    if attempt == 2:
                        raise
                    continue
                os.fsync(folders[-1])
                return

    def _do(self, doing: str, action: Any, *args: Any) -> Any:
        try:
            return action(*args)
        except OSError as error:
            raise self._failure(doing, error) from None

    def _sweep(self, incoming: int) -> None:
        """Remove what killed puts left in ``.incoming`` (once per instance)."""
        if getattr(self, "_swept", False):
            return
        self._swept = True
        cutoff = time.time() - STALE_SECONDS
        for leftover in os.scandir(incoming):
            with contextlib.suppress(OSError):
                if leftover.stat(follow_symlinks=False).st_mtime < cutoff:
                    os.unlink(leftover.name, dir_fd=incoming)

    def get(self, key: str) -> BinaryIO:
        try:
            with self._folders(key) as (folders, name):
                descriptor = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=folders[-1])
            return os.fdopen(descriptor, "rb")
        except FileNotFoundError:
            raise NotFound(f"backup target {self.instance_name} has no {key}") from None
        except OSError as error:
            raise self._failure(f"read {key}", error) from None

    def exists(self, key: str) -> bool:
        try:
            with self._folders(key) as (folders, name):
                found = os.stat(name, dir_fd=folders[-1], follow_symlinks=False)
        except FileNotFoundError:
            return False
        except OSError as error:
            raise self._failure(f"look for {key}", error) from None
        return stat.S_ISREG(found.st_mode)

    def list(self, prefix: str = "") -> Iterator[str]:
        if not self.root.is_dir():
            raise Unavailable(f"backup target {self.instance_name}: {self.root} is missing")
        keys = []
        # fwalk does not descend into a link to a folder; links to files are left out here
        for folder, folders, files, descriptor in os.fwalk(self.root, follow_symlinks=False):
            relative = os.path.relpath(folder, self.root)
            base = "" if relative == "." else f"{relative}/"
            # only the folders a key under the prefix can be in: listing the snapshots
            # does not walk every content and chunk of the repository
            folders[:] = [
                name
                for name in folders
                if (base or name != INCOMING) and _may_hold(f"{base}{name}/", prefix)
            ]
            for name in files:
                key = f"{base}{name}"
                if key.startswith(prefix) and _is_file(name, descriptor):
                    keys.append(key)
        return iter(sorted(keys))

    def delete(self, key: str) -> None:
        *path, _ = key.split("/")
        try:
            with self._folders(key) as (folders, name):
                os.unlink(name, dir_fd=folders[-1])
                # folders left empty go too (a put racing this makes its folder again)
                for depth in range(len(path), 0, -1):
                    try:
                        os.rmdir(path[depth - 1], dir_fd=folders[depth - 1])
                    except OSError:
                        break
        except FileNotFoundError:
            return
        except OSError as error:
            raise self._failure(f"delete {key}", error) from None


def _may_hold(folder: str, prefix: str) -> bool:
    """Whether keys in ``folder`` (ending in "/") or below it can start with ``prefix``."""
    return folder.startswith(prefix) or prefix.startswith(folder)


def _is_file(name: str, folder: int) -> bool:
    with contextlib.suppress(OSError):
        return stat.S_ISREG(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode)
    return False


@hookimpl
def labvault_backup_target_types() -> list[type[BackupTarget]]:
    return [LocalFolder]
