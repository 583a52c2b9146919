"""The ``local`` backup target: a folder of this machine (a second disk, a mounted NAS).

An object is written to a temporary file under ``.incoming/`` in the folder, fsynced and
renamed into place, so a reader (or a restore after a crash) never sees part of one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
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


def _fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class LocalFolder(BackupTarget):
    name = "local"
    description = "A folder of the server's machine"
    ConfigSchema = LocalOptions

    @property
    def root(self) -> Path:
        return Path(self.config["path"])

    def _failure(self, doing: str, error: OSError) -> Unavailable:
        return Unavailable(f"backup target {self.instance_name}: cannot {doing}: {error}")

    def _path(self, key: str) -> Path:
        return self.root / check_backup_key(key)

    def put(self, key: str, stream: BinaryIO) -> int:
        final = self._path(key)
        doing = f"write {key}"
        try:
            incoming = self.root / INCOMING
            incoming.mkdir(parents=True, exist_ok=True)
            self._sweep(incoming)
            final.parent.mkdir(parents=True, exist_ok=True)
            temp = tempfile.NamedTemporaryFile(dir=incoming, delete=False)  # noqa: SIM115
        except OSError as error:
            raise self._failure(doing, error) from None
        try:
            size = 0
            # the stream's own failures pass as they are; the folder's become Unavailable
            while chunk := stream.read(CHUNK):
                self._do(doing, temp.write, chunk)
                size += len(chunk)
            self._do(doing, temp.flush)
            self._do(doing, os.fsync, temp.fileno())
            temp.close()
            self._do(doing, self._replace, temp.name, final)
            self._do(doing, _fsync_directory, final.parent)
        except BaseException:
            temp.close()
            with contextlib.suppress(OSError):
                os.unlink(temp.name)
            raise
        return size

    def _sweep(self, incoming: Path) -> None:
        """Remove what killed puts left in ``.incoming`` (once per instance)."""
        if getattr(self, "_swept", False):
            return
        self._swept = True
        cutoff = time.time() - STALE_SECONDS
        for leftover in incoming.iterdir():
            with contextlib.suppress(OSError):
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()

    @staticmethod
    def _replace(temp: str, final: Path) -> None:
        try:
            os.replace(temp, final)
        except FileNotFoundError:  # a delete removed the folder, left empty, meanwhile
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp, final)

    def _do(self, doing: str, action: Any, *args: Any) -> Any:
        try:
            return action(*args)
        except OSError as error:
            raise self._failure(doing, error) from None

    def get(self, key: str) -> BinaryIO:
        try:
            return self._path(key).open("rb")
        except FileNotFoundError:
            raise NotFound(f"backup target {self.instance_name} has no {key}") from None
        except OSError as error:
            raise self._failure(f"read {key}", error) from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> Iterator[str]:
        if not self.root.is_dir():
            raise Unavailable(f"backup target {self.instance_name}: {self.root} is missing")
        keys = []
        for folder, folders, files in os.walk(self.root):
            if folder == str(self.root):
                folders[:] = [name for name in folders if name != INCOMING]
            relative = os.path.relpath(folder, self.root)
            for name in files:
                key = name if relative == "." else f"{relative}/{name}"
                if key.startswith(prefix):
                    keys.append(key)
        return iter(sorted(keys))

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        except OSError as error:
            raise self._failure(f"delete {key}", error) from None
        # folders left empty go too (a put racing this makes its folder again)
        for folder in path.parents:
            if folder == self.root:
                break
            try:
                folder.rmdir()
            except OSError:
                break


@hookimpl
def labvault_backup_target_types() -> list[type[BackupTarget]]:
    return [LocalFolder]
