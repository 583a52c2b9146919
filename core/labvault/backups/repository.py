"""A strategy's repository on its target: contents stored once, snapshots by manifest.

Keys on the target::

    repository.json                 format, whether it is encrypted; with a key, the
                                    salt its keys are derived with and a key check
    contents/ab/<name>              one object per file content (name: its sha256, or
                                    with a key an HMAC of it), shared by every snapshot
    chunks/ab/<name>                one object per chunk of a dump part (named alike),
                                    shared by every snapshot whose part holds it
    snapshots/<id>/manifest.json    written last: a snapshot exists once this does; it
                                    lists each part's chunks
    snapshots/<id>/<part>           a part of a snapshot written before chunks (snapshot
                                    format 1), still read

A part (a table's rows, the contents list, the config) is cut into chunks whose bounds
stay put while their rows do (:mod:`~labvault.backups.chunking`), so a snapshot of an
unchanged database stores no new chunk, and ten of them take the room of one. A run
killed before its manifest leaves chunks and contents that no snapshot lists; the next
collection (after the next successful run) removes them. Everything but
``repository.json`` is stored through :mod:`labvault.backups.codec`, an encrypted
repository's sealed for its place (the strategy's name and the object's key): an object
copied or renamed by whoever keeps the target does not open.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from labvault.backups import codec
from labvault.backups.chunking import Chunk
from labvault.backups.codec import BackupError, DamagedObject, Digest, Key, Passphrase
from labvault.backups.dump import contents_list
from labvault.backups.manifest import ForgedSnapshot, checked_manifest, plain_key, plain_name
from labvault.plugin import BackupTarget, NotFound

FORMAT = "labvault-backup-repository"
#: 2: keys derived with a salt of the repository, objects sealed for their place.
FORMAT_VERSION = 2
SALT_SIZE = 32
CONFIG_KEY = "repository.json"
CONTENTS = "contents/"
CHUNKS = "chunks/"
SNAPSHOTS = "snapshots/"
MANIFEST = "manifest.json"
_KEY_CHECK = b"labvault backup repository"
#: Contents compressed and sent at once (zlib and the target's I/O leave the GIL).
PARALLEL_PUTS = 4


@dataclass
class PutReport:
    uploaded: int = 0
    reused: int = 0
    bytes_read: int = 0
    bytes_stored: int = 0


@dataclass
class CollectReport:
    snapshots_removed: list[str] = field(default_factory=list)
    contents_removed: int = 0
    chunks_removed: int = 0
    leftovers_removed: int = 0


class Repository:
    """One strategy's repository: ``target`` keeps the objects; with a ``passphrase``,
    the key derived from it and the repository's salt seals them."""

    def __init__(self, target: BackupTarget, passphrase: Passphrase | None, level: int = 6) -> None:
        self.target = target
        self.passphrase = passphrase
        self.level = level
        self._key: Key | None = None

    @property
    def name(self) -> str:
        return self.target.instance_name

    @property
    def encrypted(self) -> bool:
        return self.passphrase is not None

    # --- objects ----------------------------------------------------------------------

    def _sealing(self) -> Key | None:
        """The key objects are sealed with (None: not encrypted); it needs the
        repository's salt, so the repository is opened first if it was not."""
        if self.passphrase is not None and self._key is None:
            self.open(create=False)
        return self._key

    def _place(self, key: str) -> bytes:
        """What an object at ``key`` is sealed for: this strategy, this key (and so a
        snapshot's id, its time)."""
        return f"labvault backup\0{self.name}\0{key}".encode()

    def put(self, key: str, stream: BinaryIO) -> int:
        encoded = codec.encode(stream, self.level, self._sealing(), self._place(key))
        return self.target.put(key, encoded)

    def get(self, key: str) -> Iterator[bytes]:
        """The bytes kept at ``key``, as chunks (the object is closed once read)."""
        sealing = self._sealing()
        stream = self.target.get(key)
        try:
            yield from codec.decode(stream, sealing, self._place(key))
        finally:
            stream.close()

    def get_json(self, key: str) -> Any:
        try:
            return json.loads(b"".join(self.get(key)))
        except ValueError:
            raise BackupError(f"{self.name}: {key} is damaged (not JSON)") from None

    def content_key(self, sha256: str) -> str:
        return self._named(CONTENTS, sha256)

    def chunk_key(self, sha256: str) -> str:
        return self._named(CHUNKS, sha256)

    def _named(self, prefix: str, sha256: str) -> str:
        sealing = self._sealing()
        name = sealing.name_of(sha256) if sealing else sha256
        return f"{prefix}{name[:2]}/{name}"

    # --- the repository itself --------------------------------------------------------

    def open(self, *, create: bool) -> None:
        """Check the repository is one this strategy can use, and derive its key; with
        ``create`` (a run, holding the strategy's lock), make it if there is none."""
        if not self.target.exists(CONFIG_KEY):
            if not create:
                raise BackupError(f"backup strategy {self.name} has no repository yet")
            self._create()
            return
        config = self._config()
        if config.get("encrypted") and self.passphrase is None:
            raise BackupError(
                f"{self.name}: the repository is encrypted; set the strategy's "
                "encryption_key_env to the variable holding its key"
            )
        if not config.get("encrypted") and self.passphrase is not None:
            raise BackupError(
                f"{self.name}: the repository is not encrypted, so it cannot take encrypted "
                "snapshots; give the encrypted strategy a new place"
            )
        if self.passphrase is not None:
            try:
                key = self.passphrase.key(_decoded(config.get("salt"), SALT_SIZE))
                sealed = io.BytesIO(_decoded(config.get("key_check")))
                b"".join(key.open(sealed, self._place(CONFIG_KEY)))
            except (ValueError, codec.DamagedObject):
                raise BackupError(
                    f"{self.name}: the key in the strategy's environment variable is not "
                    f"the key this repository was made with (or its {CONFIG_KEY} is damaged)"
                ) from None
            self._key = key

    def _create(self) -> None:
        """Write the repository's config: once, in one put (all or nothing), never
        rewritten, so its salt is the one every object is sealed with."""
        config: dict[str, Any] = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "encrypted": self.encrypted,
        }
        if self.passphrase is not None:
            salt = os.urandom(SALT_SIZE)
            key = self.passphrase.key(salt)
            sealed = b"".join(key.seal([_KEY_CHECK], self._place(CONFIG_KEY)))
            config["salt"] = base64.b64encode(salt).decode()
            config["key_check"] = base64.b64encode(sealed).decode()
            self._key = key
        self.target.put(CONFIG_KEY, io.BytesIO(json.dumps(config).encode()))

    def _config(self) -> dict[str, Any]:
        stream = self.target.get(CONFIG_KEY)
        try:
            config = json.loads(stream.read())
        except ValueError:
            raise BackupError(f"{self.name}: {CONFIG_KEY} is damaged") from None
        finally:
            stream.close()
        if not isinstance(config, dict) or config.get("format") != FORMAT:
            raise BackupError(f"{self.name}: not a labvault backup repository")
        version = config.get("version")
        if isinstance(version, int) and version < FORMAT_VERSION:
            raise BackupError(
                f"{self.name}: the repository was made by an earlier labvault (repository "
                f"format {version}), which this version cannot read or add to: give the "
                "strategy a new place, and keep the old repository with the version that "
                "wrote it"
            )
        if version != FORMAT_VERSION:
            raise BackupError(
                f"{self.name}: the repository was made by a later labvault (repository "
                f"format {version}); upgrade labvault to use it"
            )
        return config

    def keys(self, prefix: str) -> list[str]:
        """The keys the target lists under ``prefix``, each a plain relative key (a
        target's listing is the store's word, and the store may be anyone's)."""
        what = f"a key backup target {self.name} lists"
        return [plain_key(key, what) for key in self.target.list(prefix)]

    def snapshots(self) -> list[str]:
        """The ids of complete snapshots, oldest first."""
        suffix = "/" + MANIFEST
        return [
            key[len(SNAPSHOTS) : -len(suffix)]
            for key in self.keys(SNAPSHOTS)
            if key.endswith(suffix) and key.count("/") == 2
        ]

    def manifest(self, snapshot: str) -> dict[str, Any]:
        """The checked manifest of ``snapshot`` (an id from anywhere: a listing, a user)."""
        try:
            plain_name(snapshot, "a snapshot's id")
            manifest = self.get_json(f"{SNAPSHOTS}{snapshot}/{MANIFEST}")
        except (ForgedSnapshot, NotFound):
            raise BackupError(f"{self.name} has no snapshot {snapshot}") from None
        except BackupError as error:  # not JSON, or it does not open
            raise ForgedSnapshot(f"the manifest of {snapshot}: {error.message}") from None
        return checked_manifest(manifest, snapshot)

    # --- writing a snapshot -----------------------------------------------------------

    def put_contents(
        self,
        contents: Iterable[tuple[str, int]],
        open_content: Callable[[str], BinaryIO],
        progress: Callable[[int], None],
    ) -> PutReport:
        """Store each content not stored yet, several at once."""
        report = PutReport()
        stored = set(self.keys(CONTENTS))
        pending: set[Future[tuple[int, int]]] = set()
        with ThreadPoolExecutor(PARALLEL_PUTS, thread_name_prefix="backup-put") as pool:
            try:
                for sha256, size in contents:
                    if self.content_key(sha256) in stored:
                        report.reused += 1
                        progress(size)
                        continue
                    if len(pending) >= PARALLEL_PUTS * 2:
                        done, pending = wait(pending, return_when=FIRST_COMPLETED)
                        _account(done, report)
                    pending.add(pool.submit(self._put_content, sha256, open_content, progress))
                _account(pending, report)
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
        return report

    def _put_content(
        self, sha256: str, open_content: Callable[[str], BinaryIO], progress: Callable[[int], None]
    ) -> tuple[int, int]:
        digest = Digest()
        key = self.content_key(sha256)
        with open_content(sha256) as stream:
            chunks = digest.feed(_reporting(codec.read_chunks(stream), progress))
            stored = self.put(key, codec.chunk_stream(chunks))
        if digest.hexdigest != sha256:
            self.target.delete(key)
            raise BackupError(
                f"the file store's content {sha256} is damaged (its bytes hash to "
                f"{digest.hexdigest}); the backup cannot hold it"
            )
        return digest.size, stored

    def put_part(self, snapshot: str, name: str, stream: BinaryIO) -> None:
        self.put(f"{SNAPSHOTS}{snapshot}/{name}", stream)

    def put_chunks(self, parts: Iterable[tuple[Path | None, list[Chunk]]]) -> PutReport:
        """Store the chunks of a snapshot's parts (each file and its chunks) that the
        repository lacks, several at once; the others are only counted as reused."""
        report = PutReport()
        stored = set(self.keys(CHUNKS))
        wanted: list[tuple[Path, Chunk]] = []
        for path, chunks in parts:
            for chunk in chunks:
                key = self.chunk_key(chunk.sha256)
                if key in stored:
                    report.reused += 1
                    continue
                if path is None:
                    raise BackupError(
                        f"{self.name}: chunk {chunk.sha256} went missing during the run"
                    )
                stored.add(key)  # a chunk twice in one dump is put once
                wanted.append((path, chunk))

        def put(item: tuple[Path, Chunk]) -> tuple[int, int]:
            path, chunk = item
            with path.open("rb") as stream:
                stream.seek(chunk.offset)
                piece = codec.chunk_stream(_limited(stream, chunk.size))
                return chunk.size, self.put(self.chunk_key(chunk.sha256), piece)

        with ThreadPoolExecutor(PARALLEL_PUTS, thread_name_prefix="backup-chunk") as pool:
            for read, stored_size in pool.map(put, wanted):
                report.uploaded += 1
                report.bytes_read += read
                report.bytes_stored += stored_size
        return report

    def commit(self, snapshot: str, manifest: dict[str, Any]) -> None:
        """Write the manifest: from now on the snapshot exists."""
        self.put_part(snapshot, MANIFEST, io.BytesIO(json.dumps(manifest, indent=1).encode()))

    # --- retention --------------------------------------------------------------------

    def remove_snapshot(self, snapshot: str) -> None:
        prefix = f"{SNAPSHOTS}{snapshot}/"
        self.target.delete(prefix + MANIFEST)  # first: the rest is then a mere leftover
        for key in self.keys(prefix):
            self.target.delete(key)

    def collect(self, retention: int) -> CollectReport:
        """Remove all but the newest ``retention`` snapshots, then every object that no
        remaining snapshot refers to (contents, and parts of runs that never finished).
        Only ever called by a run holding the strategy's lock.

        Every snapshot's manifest must open as itself first, and the contents lists of
        those kept must be read, before anything is removed: a snapshot replayed under a
        newer id (or damaged) stops the collection, rather than making real ones "old"."""
        report = CollectReport()
        snapshots = self.snapshots()
        manifests = {snapshot: self.manifest(snapshot) for snapshot in snapshots}
        removed = snapshots[: max(0, len(snapshots) - retention)]
        kept = snapshots[len(removed) :]
        referenced = {
            self.content_key(sha256)
            for snapshot in kept
            for sha256, _ in self.contents(snapshot, manifests[snapshot])
        }
        chunks = {
            self.chunk_key(sha256)
            for snapshot in kept
            for part in manifests[snapshot]["parts"].values()
            for sha256, _ in part.get("chunks", ())
        }
        for snapshot in removed:
            self.remove_snapshot(snapshot)
            report.snapshots_removed.append(snapshot)
        kept_prefixes = tuple(f"{SNAPSHOTS}{snapshot}/" for snapshot in kept)
        for key in self.keys(CONTENTS):
            if key not in referenced:
                self.target.delete(key)
                report.contents_removed += 1
        for key in self.keys(CHUNKS):
            if key not in chunks:
                self.target.delete(key)
                report.chunks_removed += 1
        for key in self.keys(SNAPSHOTS):
            if not key.startswith(kept_prefixes):
                self.target.delete(key)
                report.leftovers_removed += 1
        return report

    # --- reading ----------------------------------------------------------------------

    def contents(
        self, snapshot: str, manifest: dict[str, Any] | None = None
    ) -> Iterator[tuple[str, int]]:
        """(sha256, size) of every content ``snapshot`` (whose checked manifest is
        ``manifest``, read if not given) refers to."""
        manifest = manifest or self.manifest(snapshot)
        info = manifest["parts"].get(CONTENTS_PART)
        if info is None:
            raise ForgedSnapshot(f"snapshot {snapshot} has no contents list")
        return contents_list(self.part(snapshot, CONTENTS_PART, info))

    def part(self, snapshot: str, name: str, info: dict[str, Any]) -> Iterator[bytes]:
        """The bytes of part ``name`` of ``snapshot`` (``info``: its manifest's entry):
        its chunks one after another, each checked; or, in a snapshot of format 1, the
        snapshot's own object."""
        if "chunks" not in info:
            yield from self.get(f"{SNAPSHOTS}{snapshot}/{name}")
            return
        for sha256, size in info["chunks"]:
            digest = Digest()
            try:
                yield from digest.feed(self.get(self.chunk_key(sha256)))
            except NotFound:
                raise DamagedObject(f"its chunk {sha256} is missing") from None
            if (digest.hexdigest, digest.size) != (sha256, size):
                raise DamagedObject(
                    f"its chunk {sha256} is damaged (its checksum is not the manifest's)"
                )


CONTENTS_PART = "contents.jsonl"


def _account(done: Iterable[Future[tuple[int, int]]], report: PutReport) -> None:
    for future in done:
        read, stored = future.result()
        report.uploaded += 1
        report.bytes_read += read
        report.bytes_stored += stored


def _limited(stream: BinaryIO, size: int) -> Iterator[bytes]:
    """The next ``size`` bytes of ``stream``, a piece at a time."""
    while size > 0:
        piece = stream.read(min(size, codec.CHUNK))
        if not piece:
            raise BackupError(f"a dump part ended early ({size} bytes short)")
        size -= len(piece)
        yield piece


def _reporting(chunks: Iterator[bytes], progress: Callable[[int], None]) -> Iterator[bytes]:
    for chunk in chunks:
        progress(len(chunk))
        yield chunk


def _decoded(text: object, size: int | None = None) -> bytes:
    """The bytes of base64 ``text`` (of ``size`` bytes, when given); ValueError if not."""
    if not isinstance(text, str):
        raise ValueError("not base64 text")
    try:
        data = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ValueError("not base64 text") from None
    if size is not None and len(data) != size:
        raise ValueError(f"not {size} bytes")
    return data
