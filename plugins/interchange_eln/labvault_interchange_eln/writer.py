"""The ``.eln`` writer: an export as a zip with one root folder holding
``ro-crate-metadata.json`` (RO-Crate 1.1) and a folder per item, written as a stream.

Each item is a ``Dataset`` (``./<refcode>/``) with its files, its blocks (their data as
JSON, and their plot as PNG where the block type draws one), its versions when asked
(``versions/<number>.json``) and ``labvault-item.json``,
the item as labvault's API shows it (what labvault reads back on import). The files'
bytes are written as they are read from the file store; the metadata, which names every
file with its size and sha256, is written last.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import posixpath
import re
import zipfile
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

import marshmallow as ma
from labvault.plugin import Export, ExportedItem, ImportArchive, Imported, InterchangeFormat

from labvault_interchange_eln.reader import read_archive

#: Bytes read from the file store at a time.
CHUNK = 1 << 20
RO_CRATE = "https://w3id.org/ro/crate/1.1"
METADATA = "ro-crate-metadata.json"
ITEM_DOCUMENT = "labvault-item.json"
#: What the archive's entries are written with: deflated, as ``zip`` does by default.
COMPRESSION = zipfile.ZIP_DEFLATED
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


def iso(moment: dt.datetime) -> str:
    """A stored time (UTC, with or without its zone) as ISO 8601 with the zone."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.isoformat()


def safe_name(name: str, fallback: str) -> str:
    """``name`` as one path segment that every zip tool extracts in place: no folder
    separators, no characters Windows refuses, not ``.`` or ``..``."""
    cleaned = _UNSAFE.sub("_", name).strip(" .")
    return cleaned or fallback


def _id(path: str) -> str:
    """The RO-Crate ``@id`` of an entry of the crate: its path, percent-encoded."""
    return "./" + quote(path, safe="/")


class _Sink:
    """What the zip is written to: collects bytes until they are taken (the stream to the
    client cannot seek, so zipfile writes each entry's sizes after its data)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes, /) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


#: What the data may be used for unless the deployer says (``license``): nothing beyond
#: what the law allows, as datalab's exports say too.
NO_PERMISSION = "https://choosealicense.com/no-permission/"


class ElnOptions(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    max_metadata_size = ma.fields.Integer(
        load_default=256 * 1024 * 1024,
        validate=ma.validate.Range(min=1024),
        metadata={
            "description": "the most bytes an imported archive's metadata (and an item's "
            "JSON in it) may have"
        },
    )
    license = ma.fields.URL(
        load_default=NO_PERMISSION,
        metadata={
            "description": "the license of exported data, as a URL (RO-Crate's root needs one)"
        },
    )


class ElnFormat(InterchangeFormat):
    name = "eln"
    display_name = "ELN archive (RO-Crate 1.1, the ELN Consortium's .eln)"
    description = "Exports items, their files and blocks as an .eln archive, and imports them"
    file_extension = ".eln"
    media_type = "application/vnd.eln+zip"
    OptionsSchema = ElnOptions

    def write(self, export: Export) -> Iterator[bytes]:
        sink = _Sink()
        root = safe_name(export.name, "export")
        crate = _Crate(export, str(self.options["license"]))
        with zipfile.ZipFile(sink, "w", compression=COMPRESSION) as archive:
            for item in export.items:
                for path, content in crate.add_item(item):
                    if isinstance(content, bytes):
                        _write_bytes(archive, f"{root}/{path}", content)
                    else:
                        yield from self._copy(archive, sink, f"{root}/{path}", *content)
                yield sink.take()
            metadata = json.dumps(crate.metadata(), ensure_ascii=False).encode()
            _write_bytes(archive, f"{root}/{METADATA}", metadata)
        yield sink.take()

    def read(self, archive: ImportArchive) -> Imported:
        return read_archive(archive, int(self.options["max_metadata_size"]))

    def _copy(
        self, archive: zipfile.ZipFile, sink: _Sink, path: str, sha256: str, size: int
    ) -> Iterator[bytes]:
        """The content ``sha256`` as the entry ``path``, a chunk at a time."""
        info = zipfile.ZipInfo(path, date_time=_ZIP_TIME)
        info.compress_type = COMPRESSION
        info.file_size = size  # tells zipfile whether the entry needs ZIP64
        with self.host.files.open(sha256) as source, archive.open(info, "w") as entry:
            while chunk := source.read(CHUNK):
                entry.write(chunk)
                yield sink.take()


#: Entries are dated 1980-01-01 (zip's first day): what the metadata's dates say counts,
#: and the same export gives the same bytes.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _write_bytes(archive: zipfile.ZipFile, path: str, data: bytes) -> None:
    info = zipfile.ZipInfo(path, date_time=_ZIP_TIME)
    info.compress_type = COMPRESSION
    archive.writestr(info, data)


def _unique(name: str, taken: set[str]) -> str:
    """``name``, or ``name-2.ext``, ``name-3.ext``, ... when ``taken`` (lowercase names)
    has it in any case (a zip extracted on macOS or Windows would merge the two); the
    name is added to ``taken``."""
    stem, extension = posixpath.splitext(name)
    candidate, number = name, 1
    while candidate.lower() in taken:
        number += 1
        candidate = f"{stem}-{number}{extension}"
    taken.add(candidate.lower())
    return candidate


#: What goes into an item's folder: its path in the crate, and bytes written by the
#: exporter or (sha256, size) of content in the file store.
Entry = tuple[str, bytes | tuple[str, int]]


class _Crate:
    """The RO-Crate's entities, gathered as the items are written."""

    def __init__(self, export: Export, license_url: str) -> None:
        self.export = export
        self.license = license_url
        self.publisher_id = export.publisher_url or "#publisher"
        self.people = {key: self._person_id(key) for key in export.people}
        self.datasets: list[dict[str, Any]] = []
        self.entities: list[dict[str, Any]] = []
        taken: set[str] = set()
        self.folders = {
            refcode: _unique(safe_name(refcode, "item"), taken) for refcode in export.refcodes
        }

    def _person_id(self, key: str) -> str:
        person = self.export.people[key]
        return person.identifiers[0] if person.identifiers else f"#person-{key}"

    def _file(
        self, path: str, name: str, media_type: str, content: bytes | tuple[str, int], **more: str
    ) -> Entry:
        """Record the File entity of an entry of an item's folder."""
        if isinstance(content, bytes):
            sha256, size = hashlib.sha256(content).hexdigest(), len(content)
        else:
            sha256, size = content
        self.entities.append(
            {
                "@id": _id(path),
                "@type": "File",
                "name": name,
                "encodingFormat": media_type,
                "contentSize": str(size),
                "sha256": sha256,
                **more,
            }
        )
        return path, content

    def add_item(self, item: ExportedItem) -> list[Entry]:
        """Record the item's Dataset and File entities; the entries of its folder (each
        content under one name)."""
        folder = self.folders.get(item.refcode) or safe_name(item.refcode, "item")
        entries: list[Entry] = []
        names = {ITEM_DOCUMENT, "blocks", "versions"}
        for stored in item.files:
            name = _unique(safe_name(stored.name, stored.sha256[:12]), names)
            entries.append(
                self._file(
                    f"{folder}/{name}",
                    stored.name,
                    stored.media_type,
                    (stored.sha256, stored.size),
                    dateCreated=iso(stored.created_at),
                )
            )
        for position, block in enumerate(item.blocks, start=1):
            base = f"{folder}/blocks/{position}-{safe_name(block.block_type, 'block')}"
            title = block.title or block.block_type
            entries.append(
                self._file(
                    f"{base}.json",
                    f"{title} ({block.block_type} block)",
                    "application/json",
                    _json({**block.data, "files": list(block.file_sha256s)}),
                    description=f"the data of a {block.block_type} block of {item.refcode}",
                )
            )
            if block.plot is not None:
                entries.append(
                    self._file(
                        f"{base}.png",
                        f"{title} (plot)",
                        "image/png",
                        block.plot,
                        description=f"the plot of a {block.block_type} block of {item.refcode}",
                    )
                )
        for version in item.versions:
            entries.append(
                self._file(
                    f"{folder}/versions/{version.number}.json",
                    f"version {version.number} ({version.action})",
                    "application/json",
                    _json(version.document),
                    dateCreated=iso(version.created_at),
                    description=f"{item.refcode} after change {version.number}: {version.action}",
                )
            )
        entries.append(
            self._file(
                f"{folder}/{ITEM_DOCUMENT}",
                ITEM_DOCUMENT,
                "application/json",
                _json(item.document),
                description=f"{item.refcode} as labvault's API shows it",
            )
        )
        parts = [{"@id": _id(path)} for path, _ in entries]
        self.datasets.append(self._dataset(item, folder, parts))
        return entries

    def _dataset(
        self, item: ExportedItem, folder: str, parts: list[dict[str, str]]
    ) -> dict[str, Any]:
        dataset: dict[str, Any] = {
            "@id": _id(f"{folder}/"),
            "@type": "Dataset",
            "name": item.name or item.refcode,
            "identifier": item.refcode,
            "genre": item.type_name,
            "creativeWorkStatus": item.status,
            "dateCreated": iso(item.created_at),
            "dateModified": iso(item.updated_at),
            "keywords": ", ".join([item.type, *item.collections]),
            "hasPart": parts,
        }
        if item.item_id:
            dataset["alternateName"] = item.item_id
        if item.description:
            dataset["text"] = item.description
        if item.url:
            dataset["url"] = item.url
        creators = [{"@id": self.people[key]} for key in item.creators if key in self.people]
        if creators:
            dataset["author"] = creators[0]  # the consortium's schema takes one author
            if len(creators) > 1:
                dataset["contributor"] = creators[1:]
        mentioned = [link for link in item.links if link.exported]
        if mentioned:
            dataset["mentions"] = [
                {"@id": _id(f"{self.folders[link.refcode]}/")}
                for link in mentioned
                if link.refcode in self.folders
            ]
        values = []
        for name, value in item.fields.items():
            if value is None or value == "" or value == []:
                continue
            entity = {
                "@id": f"#{quote(item.refcode)}-{quote(name)}",
                "@type": "PropertyValue",
                "propertyID": name,
                "name": name,
                "value": value
                if isinstance(value, str | int | float | bool)
                else json.dumps(value),
            }
            if name in item.units:
                entity["unitText"] = item.units[name]
            self.entities.append(entity)
            values.append({"@id": entity["@id"]})
        if values:
            dataset["variableMeasured"] = values
        return dataset

    def metadata(self) -> dict[str, Any]:
        export = self.export
        software = export.software
        graph: list[dict[str, Any]] = [
            {
                "@id": METADATA,
                "@type": "CreativeWork",
                "about": {"@id": "./"},
                "conformsTo": {"@id": RO_CRATE},
                "dateCreated": iso(export.created_at),
                "sdPublisher": {"@id": self.publisher_id},
                "version": "1.0",
            },
            {
                "@id": "./",
                "@type": "Dataset",
                "name": export.title,
                "description": export.description,
                "datePublished": iso(export.created_at),
                "license": {"@id": self.license},
                "hasPart": [{"@id": dataset["@id"]} for dataset in self.datasets],
            },
            {"@id": self.license, "@type": "CreativeWork", "name": "License of the data"},
            {
                "@id": self.publisher_id,
                "@type": "Organization",
                "name": export.publisher,
                **({"url": export.publisher_url} if export.publisher_url else {}),
            },
            {
                "@id": "#export",
                "@type": "CreateAction",
                "object": {"@id": "./"},
                "endTime": iso(export.created_at),
                "instrument": {"@id": software.url},
                "actionStatus": {"@id": "http://schema.org/CompletedActionStatus"},
            },
            {
                "@id": software.url,
                "@type": "SoftwareApplication",
                "name": software.name,
                "version": software.version,
                "url": software.url,
            },
        ]
        for key, person in export.people.items():
            entity: dict[str, Any] = {
                "@id": self.people[key],
                "@type": "Person",
                "name": person.name,
            }
            if person.identifiers:
                entity["identifier"] = person.identifiers[0]
            graph.append(entity)
        return {
            "@context": RO_CRATE + "/context",
            "@graph": [*graph, *self.datasets, *self.entities],
        }


def _json(value: Mapping[str, Any]) -> bytes:
    # without indent: json's C encoder (indenting takes the pure-Python one, 5x slower)
    return json.dumps(dict(value), ensure_ascii=False).encode()
