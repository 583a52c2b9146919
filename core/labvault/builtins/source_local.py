"""The ``local`` file source: a folder of this machine (a mounted share, an instrument
export directory), read through the same contract as any remote source.

Every path is walked from the root one name at a time (see :mod:`.beneath`): links are
followed while they stay inside the root, and what is read is what was checked.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat as stat_module
from collections.abc import Iterator

import marshmallow as ma

from labvault.builtins.beneath import Outside, Root, open_beneath
from labvault.plugin import (
    FileSource,
    FileSourceOptions,
    Forbidden,
    LeadsOutside,
    NotAFile,
    NotFound,
    OpenedFile,
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
    OptionsSchema = LocalOptions

    def _failure(self, path: str, error: OSError) -> Exception:
        if error.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            return NotFound(f"{self.instance_name} has no {path or '/'}")
        if error.errno in (errno.EACCES, errno.EPERM):
            return Forbidden(f"{self.instance_name} may not read {path or '/'}")
        return Unavailable(f"{self.instance_name}: {os.strerror(error.errno or 0) or error}")

    def root(self) -> str:
        folder = self.options["path"]
        if not os.path.isdir(folder):  # a share not mounted is the usual cause
            raise Unavailable(
                f"{self.instance_name}: the folder {folder} is missing; is it mounted?"
            )
        return os.path.realpath(folder)

    def _open(self, path: str, flags: int) -> tuple[int, os.stat_result, RemoteEntry]:
        """A descriptor of what ``path`` leads to, its status and its entry."""
        root = Root(self.root(), self.options["path"])
        try:
            descriptor, real = open_beneath(root, path, flags)
        except Outside:
            raise LeadsOutside(self.instance_name, path) from None
        except OSError as error:
            raise self._failure(path, error) from None
        info = os.fstat(descriptor)
        target = None if real == path else posixpath.join(root.real, real) if real else root.real
        return descriptor, info, _entry(path, info, target)

    def list(self, path: str) -> Iterator[RemoteEntry]:
        folder, _, _ = self._open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            with os.scandir(folder) as found:
                children = [(child.name, child.stat(follow_symlinks=False)) for child in found]
        except OSError as error:
            raise self._failure(path, error) from None
        finally:
            os.close(folder)
        for name, info in children:
            child = f"{path}/{name}" if path else name
            if not stat_module.S_ISLNK(info.st_mode):
                yield _entry(child, info, None)
                continue
            try:
                yield self.stat(child)
            except (LeadsOutside, NotFound):
                continue  # leads out, dangles, or was removed since the folder was read

    def stat(self, path: str) -> RemoteEntry:
        descriptor, _, entry = self._open(path, os.O_RDONLY)
        os.close(descriptor)
        return entry

    def open(self, path: str) -> OpenedFile:
        descriptor, info, entry = self._open(path, os.O_RDONLY)
        if not stat_module.S_ISREG(info.st_mode):
            os.close(descriptor)
            what = "a folder" if entry.is_dir else "not a regular file"
            raise NotAFile(f"{path} on {self.instance_name} is {what}")
        return OpenedFile(entry, os.fdopen(descriptor, "rb"))


def _entry(path: str, info: os.stat_result, link_target: str | None) -> RemoteEntry:
    is_dir = stat_module.S_ISDIR(info.st_mode)
    size = None if is_dir else info.st_size
    return RemoteEntry(path, is_dir, size, info.st_mtime, link_target=link_target)


@hookimpl
def labvault_file_source_types() -> list[type[FileSource]]:
    return [LocalFolder]
