"""An archive being imported, checked once before any format reads it. A file that is
not a zip is an archive of one part, the file itself (a format of JSON documents, say,
reads it so: :class:`OneFile`). A zip (``.eln`` and the like) is checked for its sizes
and compression ratios from the central directory
(:func:`labvault.plugin.check_zip_archive`), and every part's name and kind. A part
named by an absolute path or with ``..``, a link, an encrypted part or two parts of one
name make the whole archive refused: such an archive is hostile or broken, and nothing
of it is imported.

Nothing is ever extracted to the disk under a name from the archive: a format reads
metadata through :meth:`ZipArchive.read` (bounded), and the core streams data files
into the file store by their content (:meth:`ZipArchive.open`).
"""

from __future__ import annotations

import re
import stat
import zipfile
from typing import IO

from labvault.errors import Invalid
from labvault.plugin import check_zip_archive

#: ``C:`` and the like, at the start of a part's name.
_DRIVE = re.compile(r"^[A-Za-z]:")


def _safe_path(name: str) -> str | None:
    """The part's name as a relative path with ``/`` and no empty segments (an exporter
    may write ``a//b``), or None when it is not one (absolute, ``..``, a drive)."""
    if "\\" in name or name.startswith("/") or _DRIVE.match(name) or "\x00" in name:
        return None
    segments = [segment for segment in name.split("/") if segment not in ("", ".")]
    if not segments or ".." in segments:
        return None
    return "/".join(segments)


def _is_link(part: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(part.external_attr >> 16)


#: How a zip archive starts (its first local header); a file that starts so and is not
#: one is a damaged zip archive, not a file of another format.
_ZIP_MAGIC = b"PK\x03\x04"


def open_archive(
    stream: IO[bytes], name: str, *, max_unpacked_size: int, max_parts: int
) -> ZipArchive | OneFile:
    """The archive in ``stream`` (seekable): a zip archive, or the file as its one part."""
    stream.seek(0)
    magic = stream.read(len(_ZIP_MAGIC))
    stream.seek(0)
    if magic == _ZIP_MAGIC or zipfile.is_zipfile(stream):
        return ZipArchive(stream, name, max_unpacked_size=max_unpacked_size, max_parts=max_parts)
    stream.seek(0)
    return OneFile(stream, name)


class OneFile:
    """A file that is no zip archive, as an archive whose one part is the file (named by
    its file name)."""

    def __init__(self, stream: IO[bytes], name: str) -> None:
        self.name = name
        self._stream = stream
        self._path = _safe_path(name.rsplit("/", 1)[-1]) or "file"
        self._size = stream.seek(0, 2)
        stream.seek(0)

    def close(self) -> None:
        pass

    def names(self) -> list[str]:
        return [self._path]

    def size(self, path: str) -> int:
        return self._size

    def read(self, path: str, *, max_size: int) -> bytes:
        if path != self._path:
            raise Invalid(f"{self.name} has no part {path!r}: it is one file")
        if self._size > max_size:
            raise Invalid(
                f"{self.name}: {self._size} bytes, more than the {max_size} its format reads"
            )
        self._stream.seek(0)
        return self._stream.read(max_size + 1)

    def open(self, path: str) -> _Unclosed:
        self._stream.seek(0)
        return _Unclosed(self._stream)


class _Unclosed:
    """The one file's stream, read by the core as a part is (and closed by its owner)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.read = stream.read

    def __enter__(self) -> _Unclosed:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass


class ZipArchive:
    """A zip archive to import from ``stream`` (seekable), checked as the module says;
    :class:`~labvault.errors.Invalid` naming the archive and the part otherwise."""

    def __init__(
        self, stream: IO[bytes], name: str, *, max_unpacked_size: int, max_parts: int
    ) -> None:
        self.name = name
        parts = check_zip_archive(
            stream, name=name, max_unpacked_size=max_unpacked_size, max_parts=max_parts
        )
        self._parts: dict[str, zipfile.ZipInfo] = {}
        for part in parts:
            path = _safe_path(part.filename)
            if path is None:
                raise Invalid(
                    f"{name}: its part {part.filename!r} is named by a path outside the "
                    "archive (absolute, with '..' or '\\'): refused"
                )
            if _is_link(part):
                raise Invalid(f"{name}: its part {path!r} is a link: refused")
            if part.is_dir():
                continue
            if part.flag_bits & 0x1:
                raise Invalid(f"{name}: its part {path!r} is encrypted")
            if path in self._parts:
                raise Invalid(f"{name}: two parts are named {path!r}")
            self._parts[path] = part
        self._zip = zipfile.ZipFile(stream)

    def close(self) -> None:
        self._zip.close()

    def names(self) -> list[str]:
        return list(self._parts)

    def size(self, path: str) -> int:
        """The unpacked size the archive declares for ``path`` (a name of :meth:`names`)."""
        return self._parts[path].file_size

    def read(self, path: str, *, max_size: int) -> bytes:
        part = self._parts.get(path)
        if part is None:
            raise Invalid(f"{self.name} has no part {path!r}")
        if part.file_size > max_size:
            raise Invalid(
                f"{self.name}: {path} unpacks to {part.file_size} bytes, more than the "
                f"{max_size} its format reads"
            )
        try:
            with self._zip.open(part) as entry:
                return entry.read(max_size + 1)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
            raise Invalid(f"{self.name}: its part {path} is damaged ({error})") from None

    def open(self, path: str) -> IO[bytes]:
        """The content of ``path`` (a name of :meth:`names`), to read as a stream; it
        stops at the declared size, and a wrong CRC raises ``zipfile.BadZipFile`` at
        its end."""
        return self._zip.open(self._parts[path])


#: An archive to import, as the core hands it to a format.
Archive = ZipArchive | OneFile
