"""The ``.eln`` reader: an archive's RO-Crate metadata read into records, one per
Dataset, written to the specification rather than to any one exporter.

- The metadata is ``<root>/ro-crate-metadata.json`` (one root folder), read whole up to
  ``max_metadata_size``; its ``@graph`` is indexed by ``@id`` (an exporter may repeat
  an entity: the first one counts, with the keys only a repeat has added).
- Every Dataset the root reaches through ``hasPart`` (at any depth) but the root is a
  record; the root is one too when it holds files no other dataset does. A dataset
  another one holds is linked to it (``is_part_of``); ``mentions`` are links too.
- A record's files are the File entities its ``hasPart`` names, with their ``sha256``
  and ``contentSize``; a file named by a URL is not in the archive, and is kept as
  metadata. A part of the archive no entity names is reported, not imported.
- Authors (``author``, ``authors``, ``creator``, ``contributor``) are Person entities,
  with an ORCID iD as their ``@id`` or ``identifier`` and an ``email`` where given.
- The item type is told from what the exporter says of the dataset (its ``genre``,
  the name of what it is ``about``, its keywords, its ``@type``), by the words in
  :data:`TYPE_WORDS`; PropertyValues (``variableMeasured``) become the type's fields
  where it has one of that name, and metadata otherwise, like every other property.

Exporters whose archives say more are read by their own rule: labvault's (each item's
``labvault-item.json`` and blocks), datalab's (each item's ``metadata.json``, with its
item type and fields).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import posixpath
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from labvault.plugin import (
    ImportArchive,
    Imported,
    ImportedBlock,
    ImportedFile,
    ImportedLink,
    ImportedPerson,
    ImportedRecord,
    Invalid,
)

METADATA = "ro-crate-metadata.json"
ITEM_DOCUMENT = "labvault-item.json"
#: The item types records become, told by what the exporter calls a dataset: one of
#: these as the whole of a genre, category, keyword or type (lowercase) ...
TYPE_WORDS: dict[str, tuple[str, ...]] = {
    "cell": ("cell", "cells", "coin cell", "pouch cell", "battery", "batteries"),
    "starting_material": (
        "starting_material",
        "starting_materials",
        "starting material",
        "chemical",
        "chemicals",
        "reagent",
        "compound",
        "substance",
        "precursor",
    ),
    "equipment": ("equipment", "instrument", "device", "microscope", "apparatus", "machine"),
    "sample": ("sample", "samples", "specimen"),
}
#: ... or one of these words in it ("cell" is not: "Cell biology" is no battery).
TYPE_TOKENS: dict[str, frozenset[str]] = {
    "cell": frozenset({"battery", "batteries"}),
    "starting_material": frozenset({"chemical", "chemicals", "reagent", "precursor"}),
    "equipment": frozenset({"equipment", "instrument", "device", "microscope", "apparatus"}),
    "sample": frozenset({"sample", "samples", "specimen"}),
}
#: datalab's names of item fields that labvault's types name otherwise.
DATALAB_FIELDS = {
    "CAS": "cas",
    "chemform": "chemical_formula",
    "smiles_representation": "smiles",
    "size": "container_size",
    "size_unit": "container_unit",
}
#: datalab's fields that say nothing of the item itself (its database's bookkeeping).
DATALAB_INTERNAL = frozenset(
    {
        "blocks_obj",
        "display_order",
        "revision",
        "revisions",
        "version",
        "creator_ids",
        "creators",
        "group_ids",
        "groups",
        "immutable_id",
        "file_ObjectIds",
        "files",
        "relationships",
        "collections",
        "type",
        "refcode",
        "item_id",
        "name",
        "description",
        "last_modified",
        "status",
    }
)
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ORCID = re.compile(r"^https?://orcid\.org/\d{4}-\d{4}-\d{4}-\d{3}[\dX]$")
_LABVAULT_TYPE_PARTS = ("blocks/", "versions/")
_AUTHOR_KEYS = ("author", "authors", "creator", "contributor")
#: Properties of a Dataset a record maps (the rest are kept as its metadata).
_MAPPED = frozenset(
    {
        "@id",
        "@type",
        "name",
        "description",
        "text",
        "dateCreated",
        "dateModified",
        "hasPart",
        "mentions",
        "variableMeasured",
        *_AUTHOR_KEYS,
    }
)


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _ref(value: Any) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("@id"), str):
        return value["@id"]
    return value if isinstance(value, str) else None


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value if v is not None)
    return "" if value is None else str(value)


def _time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


class Crate:
    """The metadata of one archive: entities by ``@id``, and where its files are."""

    def __init__(self, archive: ImportArchive, max_metadata_size: int) -> None:
        self.archive = archive
        names = archive.names()
        found = [n for n in names if n.count("/") == 1 and n.endswith("/" + METADATA)]
        if not found and METADATA in names:
            found = [METADATA]
        if len(found) != 1:
            raise Invalid(
                f"{archive.name} is no .eln archive: it must hold one "
                f"<folder>/{METADATA} (found {len(found)})"
            )
        self.root_folder = posixpath.dirname(found[0])
        self.metadata_path = found[0]
        try:
            document = json.loads(archive.read(found[0], max_size=max_metadata_size))
        except (ValueError, RecursionError) as error:
            raise Invalid(f"{archive.name}: {METADATA} is not JSON ({error})") from None
        graph = document.get("@graph") if isinstance(document, dict) else None
        if not isinstance(graph, list):
            raise Invalid(f"{archive.name}: {METADATA} has no @graph list")
        self.entities: dict[str, dict[str, Any]] = {}
        for entity in graph:
            if not isinstance(entity, dict) or not isinstance(entity.get("@id"), str):
                continue
            earlier = self.entities.setdefault(entity["@id"], entity)
            if earlier is not entity:
                for key, value in entity.items():
                    earlier.setdefault(key, value)
        descriptor = self.entities.get(METADATA) or {}
        self.root_id = _ref(descriptor.get("about")) or "./"
        if not _is(self.entities.get(self.root_id, {}), "Dataset"):
            raise Invalid(f"{archive.name}: {METADATA} names no root Dataset")
        self.names = set(names)

    def get(self, ref: Any) -> dict[str, Any] | None:
        key = _ref(ref)
        return None if key is None else self.entities.get(key)

    def path_of(self, entity_id: str) -> str | None:
        """The archive part an entity's ``@id`` names, or None for a URL or ``#id``."""
        if "://" in entity_id or entity_id.startswith("#"):
            return None
        relative = unquote(entity_id)
        relative = relative[2:] if relative.startswith("./") else relative.lstrip("/")
        joined = posixpath.join(self.root_folder, relative) if self.root_folder else relative
        return "/".join(segment for segment in joined.split("/") if segment not in ("", "."))

    def exporter(self) -> tuple[str, str]:
        """The software that wrote the archive (its name, lowercase) and what the archive
        is remembered by: that software and the publisher, as the crate names them."""
        software = next(
            (
                self.get(action.get("instrument"))
                for action in self.entities.values()
                if _is(action, "CreateAction") and self.get(action.get("instrument"))
            ),
            None,
        ) or next((e for e in self.entities.values() if _is(e, "SoftwareApplication")), None)
        descriptor = self.entities.get(METADATA) or {}
        publisher = _ref(descriptor.get("sdPublisher")) or ""
        name = _text((software or {}).get("name")) or _text((self.get(publisher) or {}).get("name"))
        software_id = (software or {}).get("@id", "")
        return name.lower(), " ".join(part for part in (software_id, publisher) if part) or name


def _is(entity: Mapping[str, Any], kind: str) -> bool:
    return kind in _list(entity.get("@type"))


class Reader:
    """Reads one archive into records (see the module's docstring)."""

    def __init__(self, archive: ImportArchive, max_metadata_size: int) -> None:
        self.crate = Crate(archive, max_metadata_size)
        self.archive = archive
        self.max_metadata_size = max_metadata_size
        self.people: dict[str, ImportedPerson] = {}
        self.notes: list[str] = []
        self.software, self.exporter = self.crate.exporter()

    def read(self) -> Imported:
        crate = self.crate
        datasets = self._datasets()
        parent_of: dict[str, str] = {}
        for dataset_id in datasets:
            for part in _list(crate.entities[dataset_id].get("hasPart")):
                part_id = _ref(part)
                if part_id in datasets and part_id != dataset_id:
                    parent_of.setdefault(part_id, dataset_id)
        files_of = {d: self._files(crate.entities[d]) for d in datasets}
        root = crate.entities[crate.root_id]
        held = {f.path for d in datasets for f in files_of[d]}
        root_files = [f for f in self._files(root) if f.path not in held]
        used = held | {f.path for f in root_files} | {crate.metadata_path}
        records = [self._record(d, files_of[d], parent_of.get(d)) for d in datasets]
        if root_files:
            records.insert(0, self._record(crate.root_id, root_files, None))
        for name in sorted(crate.names - used):
            self.notes.append(f"{name}: no entity of {METADATA} describes it; not imported")
        return Imported(
            exporter=self.exporter,
            records=tuple(records),
            people=self.people,
            notes=tuple(self.notes),
        )

    def _datasets(self) -> list[str]:
        """Every Dataset the root reaches through hasPart, the root left out; in the
        order they are reached."""
        crate = self.crate
        found: dict[str, None] = {}
        queue = [crate.root_id]
        while queue:
            current = queue.pop(0)
            for part in _list(crate.entities.get(current, {}).get("hasPart")):
                part_id = _ref(part) or ""
                entity = crate.entities.get(part_id)
                if entity and _is(entity, "Dataset") and part_id not in {*found, crate.root_id}:
                    found[part_id] = None
                    queue.append(part_id)
        return list(found)

    def _files(self, dataset: Mapping[str, Any]) -> list[ImportedFile]:
        files = []
        for part in _list(dataset.get("hasPart")):
            entity = self.crate.get(part)
            if entity is None or not _is(entity, "File"):
                continue
            path = self.crate.path_of(entity["@id"])
            if path is None:
                continue  # on the web: kept as the record's metadata (see _record)
            size = entity.get("contentSize")
            try:
                declared = int(size) if size is not None and str(size).strip() else None
            except ValueError:
                declared = None
            sha256 = entity.get("sha256")
            if sha256 is not None and not (isinstance(sha256, str) and _SHA256.match(sha256)):
                self.notes.append(
                    f"{path}: its sha256 {sha256!r} is none (checked by its size alone)"
                )
                sha256 = None
            files.append(
                ImportedFile(
                    path=path,
                    name=_text(entity.get("name")) or posixpath.basename(path),
                    sha256=sha256.lower() if isinstance(sha256, str) and sha256 else None,
                    size=declared,
                    created_at=_time(entity.get("dateCreated")),
                )
            )
        return files

    def _person(self, ref: Any) -> str | None:
        entity = self.crate.get(ref)
        if entity is None:
            return None if not isinstance(ref, str) else self._named_person(ref)
        key = entity["@id"]
        if key not in self.people:
            name = _text(entity.get("name")) or " ".join(
                _text(entity.get(part)) for part in ("givenName", "familyName") if entity.get(part)
            )
            identifiers = [
                candidate
                for candidate in (key, _ref(entity.get("identifier")))
                if candidate and _ORCID.match(candidate)
            ]
            emails = [e for e in (_text(entity.get("email")), name) if _EMAIL.match(e)]
            self.people[key] = ImportedPerson(key, name or key, tuple(identifiers), tuple(emails))
        return key

    def _named_person(self, name: str) -> str:
        key = f"name:{name}"
        self.people.setdefault(key, ImportedPerson(key, name))
        return key

    def _record(
        self, dataset_id: str, files: list[ImportedFile], parent: str | None
    ) -> ImportedRecord:
        crate = self.crate
        dataset = crate.entities[dataset_id]
        creators = tuple(
            key
            for name in _AUTHOR_KEYS
            for ref in _list(dataset.get(name))
            if (key := self._person(ref)) is not None
        )
        links = [ImportedLink(parent, "is_part_of")] if parent else []
        links += [
            ImportedLink(target, "other")
            for ref in _list(dataset.get("mentions"))
            if (target := _ref(ref)) and target != dataset_id
        ]
        metadata = {
            key: self._inline(value)
            for key, value in dataset.items()
            if key not in _MAPPED and not _empty(value)
        }
        remote = [
            self._inline(part)
            for part in _list(dataset.get("hasPart"))
            if (entity := crate.get(part)) is not None
            and _is(entity, "File")
            and crate.path_of(entity["@id"]) is None
        ]
        if remote:
            metadata["remote_files"] = remote
        properties = {}
        for ref in _list(dataset.get("variableMeasured")):
            entity = crate.get(ref) or (ref if isinstance(ref, dict) else None)
            if not entity:
                continue
            name = _text(entity.get("propertyID") or entity.get("name"))
            if name:
                properties[name] = entity.get("value")
        record: dict[str, Any] = {
            "key": dataset_id,
            "name": _text(dataset.get("name")) or posixpath.basename(dataset_id.rstrip("/")),
            "description": self._description(dataset),
            "created_at": _time(dataset.get("dateCreated")),
            "updated_at": _time(dataset.get("dateModified")),
            "creators": creators,
            "files": tuple(files),
            "links": tuple(links),
        }
        documents = {posixpath.basename(f.path): f for f in files}
        if self.software == "labvault" and ITEM_DOCUMENT in documents:
            return self._labvault(record, files, documents[ITEM_DOCUMENT])
        if self.software == "datalab" and "metadata.json" in documents:
            return self._datalab(record, metadata, properties, documents["metadata.json"])
        fields = {name: value for name, value in properties.items() if not _empty(value)}
        type_name = self._type_of(dataset)
        # properties the type has no field for are kept with the rest (the core says which)
        return ImportedRecord(type=type_name, fields=fields, metadata=metadata, **record)

    def _description(self, dataset: Mapping[str, Any]) -> str:
        """The dataset's description: text, or a TextObject it names (Kadi4Mat's)."""
        value = dataset.get("description") or dataset.get("text")
        entity = self.crate.get(value) if isinstance(value, dict) else None
        return _text(entity.get("text") if entity is not None else value)

    def _inline(self, value: Any, depth: int = 0) -> Any:
        """A property's value with the entities it names written in (``#`` and URL ids of
        contextual entities: comments, steps, categories), up to a few levels."""
        if isinstance(value, list):
            return [self._inline(v, depth) for v in value]
        if isinstance(value, dict):
            if set(value) == {"@id"} and depth < 3:
                entity = self.crate.get(value)
                if entity is not None and not _is(entity, "Dataset") and not _is(entity, "File"):
                    return {k: self._inline(v, depth + 1) for k, v in entity.items()}
            return {k: self._inline(v, depth + 1) for k, v in value.items()}
        return value

    def _type_of(self, dataset: Mapping[str, Any]) -> str | None:
        """The item type the exporter's words for the dataset say, or None."""
        about = self.crate.get(dataset.get("about")) or {}
        said = [
            _text(dataset.get("genre")),
            _text(about.get("name")),
            *_text(dataset.get("keywords")).split(","),
            *[t for t in _list(dataset.get("@type")) if t != "Dataset"],
        ]
        for words in said:
            text = " ".join(re.sub(r"[^a-z_]+", " ", words.lower()).split())
            tokens = set(text.split())
            for type_name, names in TYPE_WORDS.items():
                if text in names or tokens & TYPE_TOKENS[type_name]:
                    return type_name
        return None

    # --- exporters whose archives say more ---------------------------------------------

    def _json(self, wanted: ImportedFile) -> Any:
        try:
            return json.loads(self.archive.read(wanted.path, max_size=self.max_metadata_size))
        except (ValueError, RecursionError) as error:
            raise Invalid(f"{self.archive.name}: {wanted.path} is not JSON ({error})") from None

    def _labvault(
        self, record: dict[str, Any], files: list[ImportedFile], document_file: ImportedFile
    ) -> ImportedRecord:
        """An item labvault exported: its document says everything; its blocks are made
        again from their data (their plots are drawn again), its versions kept as files
        (an item's history begins where it is imported)."""
        document = self._json(document_file)
        if not isinstance(document, dict):
            raise Invalid(f"{self.archive.name}: {document_file.path} is not an object")
        folder = posixpath.dirname(document_file.path) + "/"
        own, blocks = [], []
        for each in files:
            inside = each.path[len(folder) :] if each.path.startswith(folder) else each.path
            if each is document_file:
                continue
            if inside.startswith("blocks/"):
                if inside.endswith(".json"):
                    blocks.append(self._block(each))
                continue  # its plot: drawn again
            own.append(each)
        common = {
            "refcode", "item_id", "type", "name", "description", "status", "date",
            "creators", "collections", "relationships", "created_at", "updated_at",
            "version", "deleted_at",
        }  # fmt: skip
        fields = {k: v for k, v in document.items() if k not in common}
        if document.get("date") is not None:
            fields["date"] = document["date"]
        by_refcode = self._datasets_by_identifier
        links = tuple(
            ImportedLink(by_refcode[r["refcode"]], r["relation"], _text(r.get("description")))
            for r in _list(document.get("relationships"))
            if isinstance(r, dict) and not r.get("derived") and r.get("refcode") in by_refcode
        )
        record.update(
            files=tuple(own),
            links=links,
            name=_text(document.get("name")),
            description=_text(document.get("description")),
        )
        return ImportedRecord(
            **record,
            type=_text(document.get("type")) or None,
            status=_text(document.get("status")) or None,
            fields=fields,
            refcode=_text(document.get("refcode")) or None,
            item_id=_text(document.get("item_id")) or None,
            collections=tuple(_text(c) for c in _list(document.get("collections"))),
            blocks=tuple(blocks),
        )

    @functools.cached_property
    def _datasets_by_identifier(self) -> dict[str, str]:
        """The ``@id`` of each Dataset by its ``identifier`` (a labvault item's refcode)."""
        return {
            _text(e.get("identifier")): e["@id"]
            for e in self.crate.entities.values()
            if _is(e, "Dataset") and e.get("identifier")
        }

    def _block(self, wanted: ImportedFile) -> ImportedBlock:
        data = self._json(wanted)
        if not isinstance(data, dict) or not isinstance(data.get("block_type"), str):
            raise Invalid(f"{self.archive.name}: {wanted.path} is no block")
        return ImportedBlock(
            block_type=data["block_type"],
            title=_text(data.get("title")),
            data=payload if isinstance(payload := data.get("data"), dict) else {},
            file_sha256s=tuple(s for s in _list(data.get("files")) if isinstance(s, str)),
        )

    def _datalab(
        self,
        record: dict[str, Any],
        metadata: dict[str, Any],
        properties: dict[str, Any],
        document_file: ImportedFile,
    ) -> ImportedRecord:
        """An item datalab exported: its metadata.json has its type and fields, which
        are labvault's mostly (labvault's item types began as datalab's)."""
        document = self._json(document_file)
        if not isinstance(document, dict):
            raise Invalid(f"{self.archive.name}: {document_file.path} is not an object")
        kind = _text(document.get("type"))
        type_name = {
            "samples": "sample",
            "cells": "cell",
            "starting_materials": "starting_material",
            "equipment": "equipment",
        }.get(kind)
        fields = dict(properties)
        for key, value in document.items():
            if key in DATALAB_INTERNAL or _empty(value):
                continue
            name = DATALAB_FIELDS.get(str(key), str(key))
            if (name == "date" or name.startswith("date_")) and isinstance(value, str):
                value = value[:10]  # datalab keeps dates as times
            fields[name] = value
        record["name"] = _text(document.get("name")) or record["name"]
        record["description"] = _text(document.get("description")) or record["description"]
        return ImportedRecord(
            **record,
            type=type_name,
            status=_text(document.get("status")) or None,
            fields=fields,
            metadata=metadata,
            refcode=_text(document.get("refcode")) or None,
            item_id=_text(document.get("item_id")) or None,
        )


def read_archive(archive: ImportArchive, max_metadata_size: int) -> Imported:
    return Reader(archive, max_metadata_size).read()
