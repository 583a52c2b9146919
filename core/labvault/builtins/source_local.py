"""The ``local`` file source: a folder of this machine (a mounted share, an instrument
export directory), read through the same contract as any remote source."""

from __future__ import annotations

import errno
import os
import stat as stat_module
from collections.abc import Iterator
from typing import IO

import marshmallow as ma

from labvault.plugin import (
    FileSource,
    FileSourceOptions,
    Forbidden,
    NotFound,
    RemoteEntry,
    Unavailable,
    hookimpl,
)


class LocalOptions(FileSourceOptions):
    path = ma.fields.String(
        required=True,
        validate=ma.validate.Regexp(r"^/", error="must be an absolute path"),
        metadata={"description": "the folder to serve, e.g. /mnt/instruments/xrd"},
    )


class LocalFolder(FileSource):
    name = "local"
    description = "A folder of the server's machine (a mounted share)"
    ConfigSchema = LocalOptions

    def _failure(self, path: str, error: OSError) -> Exception:
        if error.errno in (errno.ENOENT, errno.ENOTDIR):
            return NotFound(f"{self.instance_name} has no {path or '/'}")
        if error.errno in (errno.EACCES, errno.EPERM):
            return Forbidden(f"{self.instance_name} may not read {path or '/'}")
        return Unavailable(f"{self.instance_name}: {os.strerror(error.errno or 0) or error}")

    def _native(self, path: str) -> str:
        return os.path.join(self.config["path"], path) if path else self.config["path"]

    def root(self) -> str:
        folder = self.config["path"]
        if not os.path.isdir(folder):  # a share not mounted is the usual cause
            raise Unavailable(
                f"{self.instance_name}: the folder {folder} is missing; is it mounted?"
            )
        return os.path.realpath(folder)

    def real_path(self, path: str) -> str:
        native = self._native(path)
        try:
            os.stat(native)
        except OSError as error:
            raise self._failure(path, error) from None
        return os.path.realpath(native)

    def _entry(self, path: str, native: str) -> RemoteEntry:
        info = os.stat(native)
        target = os.path.realpath(native) if os.path.islink(native) else None
        is_dir = stat_module.S_ISDIR(info.st_mode)
        return RemoteEntry(
            path, is_dir, None if is_dir else info.st_size, info.st_mtime, link_target=target
        )

    def list(self, path: str) -> Iterator[RemoteEntry]:
        try:
            with os.scandir(self._native(path)) as found:
                names = [entry.name for entry in found]
        except OSError as error:
            raise self._failure(path, error) from None
        for name in names:
            child = f"{path}/{name}" if path else name
            try:
                yield self._entry(child, self._native(child))
            except FileNotFoundError:
                continue  # removed since the folder was read, or a dangling link

    def stat(self, path: str) -> RemoteEntry:
        try:
            return self._entry(path, self._native(path))
        except OSError as error:
            raise self._failure(path, error) from None

    def open(self, path: str) -> IO[bytes]:
        try:
            return open(self._native(path), "rb")
        except IsADirectoryError:
            raise NotFound(f"{path} on {self.instance_name} is a folder, not a file") from None
        except OSError as error:
            raise self._failure(path, error) from None


@hookimpl
def labvault_file_source_types() -> list[type[FileSource]]:
    return [LocalFolder]
