"""The self-contained form: one ``.tar.gz`` holding a snapshot, no strategy needed.

Members, under ``labvault-backup/``: ``manifest.json`` first, then the parts (config,
contents list, one dump part per table), then ``contents/ab/<sha256>``. The archive is
written to a hidden temporary file beside its final name and renamed once complete, so
a file at that name is always a whole archive.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from labvault.backups.codec import BackupError, Digest, read_chunks
from labvault.backups.manifest import ForgedSnapshot, checked_manifest, plain_key
from labvault.backups.snapshot import Dump, Progress
from labvault.files.storage import written_whole

#: What reading a damaged archive raises: gzip's OSError (a bad header, a wrong
#: checksum) and EOFError (cut short), zlib's error (a damaged deflate stream) and tar's.
DAMAGE = (OSError, EOFError, zlib.error, tarfile.TarError)

ROOT = "labvault-backup"
MANIFEST_MEMBER = f"{ROOT}/manifest.json"


def write_archive(
    dump: Dump,
    open_content: Callable[[str], BinaryIO],
    path: Path,
    level: int,
    progress: Progress,
) -> int:
    """Write ``dump`` and its contents to ``path``; returns the archive's size."""
    path = path.absolute()
    with (
        written_whole(path) as raw,
        tarfile.open(fileobj=raw, mode="w:gz", compresslevel=level) as tar,
    ):
        _add_bytes(tar, MANIFEST_MEMBER, json.dumps(dump.manifest, indent=1).encode())
        for part in dump.parts:
            assert part.path is not None  # an archive's dump reuses nothing
            tar.add(part.path, arcname=f"{ROOT}/{part.name}", recursive=False)
        total = dump.contents_bytes
        for sha256, size in dump.contents():
            _add_content(tar, sha256, size, open_content)
            progress("copying files", size, total)
    return path.stat().st_size


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


def _add_content(
    tar: tarfile.TarFile, sha256: str, size: int, open_content: Callable[[str], BinaryIO]
) -> None:
    info = tarfile.TarInfo(f"{ROOT}/contents/{sha256[:2]}/{sha256}")
    info.size = size
    info.mode = 0o600
    digest = Digest()
    with open_content(sha256) as stream:
        hashing = _Hashing(stream, digest)
        try:
            tar.addfile(info, hashing)
        except OSError as error:
            raise BackupError(
                f"the file store's content {sha256} cannot be read: {error}"
            ) from None
    if digest.hexdigest != sha256 or digest.size != size:
        raise BackupError(f"the file store's content {sha256} is damaged")


class _Hashing:
    """A stream read through a digest (tarfile reads exactly ``size`` bytes of it)."""

    def __init__(self, stream: BinaryIO, digest: Digest) -> None:
        self._stream = stream
        self._digest = digest

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._digest.update(data)
        return data


class ArchiveReader:
    """An archive read once, front to back: the manifest, then every member."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # gzip's own reader checks the stream's CRC at its end (tarfile's "r|gz" does not)
        self._gzip = gzip.GzipFile(path, mode="rb")
        try:
            self._tar = tarfile.open(fileobj=self._gzip, mode="r|")  # noqa: SIM115 (closed by close())
        except DAMAGE as error:
            self._gzip.close()
            raise BackupError(
                f"{path} is damaged, or not a labvault backup archive: {error}"
            ) from None
        self._members = iter(self._tar)
        first = self._next()
        if first is None or first.name != MANIFEST_MEMBER:
            raise BackupError(f"{path} is not a labvault backup archive (no manifest first)")
        try:
            manifest = json.loads(self._read(_file(first)))
        except ValueError:
            raise BackupError(f"{path} is damaged: its manifest is not JSON") from None
        self.manifest: dict[str, Any] = checked_manifest(manifest)

    def close(self) -> None:
        self._tar.close()
        self._gzip.close()

    def _next(self) -> tarfile.TarInfo | None:
        try:
            return next(self._members, None)
        except DAMAGE as error:
            raise BackupError(f"{self.path} is damaged: {error}") from None

    def _read(self, member: tarfile.TarInfo) -> bytes:
        return b"".join(self._chunks(member))

    def _chunks(self, member: tarfile.TarInfo) -> Iterator[bytes]:
        stream = self._tar.extractfile(member)
        assert stream is not None  # a regular file's member (_file)
        try:
            yield from read_chunks(stream)  # type: ignore[arg-type]
        except DAMAGE as error:
            raise BackupError(f"{self.path} is damaged: {error}") from None

    def members(self) -> Iterator[tuple[str, Iterator[bytes]]]:
        """(name under the archive's root, its chunks) of every member after the manifest;
        each must be read before the next is asked for."""
        while (member := self._next()) is not None:
            if not member.name.startswith(ROOT + "/"):
                raise ForgedSnapshot(f"the archive holds {member.name!r}, outside {ROOT}/")
            name = plain_key(member.name[len(ROOT) + 1 :], "the archive's member")
            yield name, self._chunks(_file(member))
        # tar stops at its end marker; read the gzip stream to its end, where its
        # checksum of everything is checked
        try:
            while self._gzip.read(1 << 20):
                pass
        except DAMAGE as error:
            raise BackupError(f"{self.path} is damaged: {error}") from None


def _file(member: tarfile.TarInfo) -> tarfile.TarInfo:
    """``member`` if it is a regular file: a link (symbolic or hard), a folder or a device
    is nothing labvault writes, and reading one would read what it points to."""
    if not member.isreg():
        raise ForgedSnapshot(f"the archive's member {member.name!r} is not a regular file")
    return member
