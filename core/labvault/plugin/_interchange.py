"""Interchange formats: the base class and what an export hands a format to write.

The core chooses what is exported (only what the exporting user may read), reads it in
batches and hands it to a format as :class:`Export`: plain, read-only records that
name no table or model. The format turns them into a stream of bytes; it reads the files'
content from ``self.host.files`` by their sha256, a chunk at a time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from labvault.plugin._types import PluginType


@dataclass(frozen=True)
class ExportedPerson:
    """Someone who created an exported item. ``key`` is unique within one export (a
    format may use it to name the person where there is no identifier);
    ``identifiers`` are persistent ids as URIs (a researcher id's), from
    the sign-in providers that know one (:meth:`AuthProvider.person_identifier`)."""

    key: str
    name: str
    identifiers: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExportedFile:
    """A file attached to an exported item; its content is ``host.files.open(sha256)``."""

    sha256: str
    name: str
    size: int
    media_type: str
    created_at: dt.datetime


@dataclass(frozen=True)
class ExportedBlock:
    """An analysis block of an exported item: its data as the API shows it
    (``block_type``, ``title``, ``data``, ``computed``, ``error``; not what only this
    server knows it by: its id, version, position and file ids), the sha256 of the
    item's files it reads, and its rendered plot (a PNG in the file store,
    as its sha256 and size) when its type draws one."""

    block_id: int
    block_type: str
    title: str
    data: Mapping[str, Any]
    file_sha256s: tuple[str, ...] = ()
    plot: tuple[str, int] | None = None


@dataclass(frozen=True)
class ExportedLink:
    """A relationship of an exported item to another item: ``relation`` as the API names
    it (``parent``, ``child``, ...), seen from the exported item. ``exported`` says
    whether the other item is in the same export."""

    refcode: str
    item_id: str
    relation: str
    description: str
    exported: bool


@dataclass(frozen=True)
class ExportedVersion:
    """A version of an exported item, as ``GET /items/<refcode>/versions/<number>``
    shows it to the exporting user (``document``: its number, action, user, time and
    snapshot, JSON values)."""

    number: int
    action: str
    created_at: dt.datetime
    document: Mapping[str, Any]


@dataclass(frozen=True)
class ExportedItem:
    """One exported item. ``document`` is the item as ``GET /items/<refcode>`` shows it
    to the exporting user (JSON values: dates as ISO text; not its ``version``, the
    counter of this server's history of it), the whole record a format may
    keep for labvault to read back; the other attributes are its parts, for formats that
    map them onto their own vocabulary. ``type_name`` is the item type's display name;
    ``fields`` the type's own fields, ``units`` the unit of each that is a quantity;
    ``creators`` keys of :attr:`Export.people`; ``url`` its page under ``PUBLIC_URL``
    (None without one); ``versions`` every version, oldest first, when the export was
    asked for them (``versions=true``), else none."""

    refcode: str
    item_id: str
    type: str
    type_name: str
    name: str
    description: str
    status: str
    created_at: dt.datetime
    updated_at: dt.datetime
    fields: Mapping[str, Any]
    creators: tuple[str, ...]
    collections: tuple[str, ...]
    links: tuple[ExportedLink, ...]
    files: tuple[ExportedFile, ...]
    blocks: tuple[ExportedBlock, ...]
    document: Mapping[str, Any]
    units: Mapping[str, str] = field(default_factory=dict)
    url: str | None = None
    versions: tuple[ExportedVersion, ...] = ()


@dataclass(frozen=True)
class ExportSoftware:
    """The software that wrote the export (labvault, its version and home page)."""

    name: str
    version: str
    url: str


@dataclass(frozen=True)
class Export:
    """What is exported: ``items`` is read lazily, in batches, as the format asks for
    them (it may be thousands); ``people`` (every creator of an exported item, by key)
    and ``refcodes`` (every exported item's, in order) are known before the first item.

    ``name`` names the export (the archive's root folder, without the extension);
    ``title`` and ``description`` say what it holds; ``publisher`` and
    ``publisher_url`` are the server's (``PUBLIC_URL``, or None)."""

    name: str
    title: str
    description: str
    created_at: dt.datetime
    software: ExportSoftware
    publisher: str
    publisher_url: str | None
    refcodes: tuple[str, ...]
    people: Mapping[str, ExportedPerson]
    items: Iterator[ExportedItem] = field(repr=False)


# --- importing ---------------------------------------------------------------------------


class ImportArchive(Protocol):
    """An archive being imported, as the core hands it to a format's
    :meth:`InterchangeFormat.read`: checked already (its size, its parts' sizes and
    compression ratios, the number of its parts), its parts named by safe relative paths
    (no absolute paths, no ``..``, no links; parts that are none of these are refused
    before the format sees the archive). A file that is no zip archive is an archive of
    one part: the file, named by its file name (a format of single JSON documents reads
    it so)."""

    #: What the archive is called (its file name), for messages.
    name: str

    def names(self) -> list[str]:
        """Every file in the archive (folders left out), as paths with ``/``."""
        ...

    def read(self, path: str, *, max_size: int) -> bytes:
        """The whole content of ``path``, up to ``max_size`` bytes: metadata, not data
        files (:class:`~labvault.plugin.Invalid` if it is larger or absent)."""
        ...


@dataclass(frozen=True)
class ImportedPerson:
    """Someone an archive names as an author. ``key`` is what the records name them by;
    ``identifiers`` persistent ids as URIs (a researcher id's URL), ``emails`` addresses:
    the core matches them to accounts (by a linked identity's researcher id, or a
    verified email address)."""

    key: str
    name: str
    identifiers: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImportedFile:
    """A file of a record: ``path`` its part of the archive, ``name`` what to call it;
    ``sha256`` and ``size`` what the archive says of it (checked against the content
    when given); ``created_at`` when it was made, where the archive says. Its media type
    is found from its name and content, as an upload's is (not taken from the archive:
    a file served as HTML because an archive said so would run in a reader's browser)."""

    path: str
    name: str
    sha256: str | None = None
    size: int | None = None
    created_at: dt.datetime | None = None


@dataclass(frozen=True)
class ImportedBlock:
    """An analysis block to make on the record's item: its type, title and data, and the
    sha256 of the record's files it reads (in order)."""

    block_type: str
    title: str
    data: Mapping[str, Any]
    file_sha256s: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImportedLink:
    """A relationship of a record to another record of the same archive (its ``key``),
    as labvault names relations (``parent``, ``child``, ``is_part_of``, ``other``)."""

    key: str
    relation: str
    description: str = ""


@dataclass(frozen=True)
class ImportedRecord:
    """One record of an archive, to become one item.

    ``key`` identifies it within the archive (the crate's ``@id``): with the exporter it
    is remembered, so importing the archive again finds the item made the first time.
    ``type`` is the item type the format maps it to (None: the format could not tell,
    and the core's default applies; a type that is not enabled falls back to it too);
    ``fields`` the type's own fields, validated by the core (a field the type refuses
    is kept with ``metadata``). ``metadata`` holds what the format could not map, as
    JSON values; it is attached to the item as a JSON file, and the report names each
    key. ``refcode`` and ``item_id`` are wishes (kept when well-formed and free);
    ``collections`` collection ids; ``creators`` keys of :attr:`Imported.people`."""

    key: str
    name: str
    type: str | None = None
    description: str = ""
    status: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    creators: tuple[str, ...] = ()
    collections: tuple[str, ...] = ()
    files: tuple[ImportedFile, ...] = ()
    blocks: tuple[ImportedBlock, ...] = ()
    links: tuple[ImportedLink, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    refcode: str | None = None
    item_id: str | None = None


@dataclass(frozen=True)
class Imported:
    """What a format read from an archive: ``exporter`` names the software that wrote it
    (its URL or name: with a record's key, what an import is remembered by), ``records``
    in the order to create them, ``people`` by key, and ``notes``: report lines on what
    the format read but made no record or file of, and why (nothing is left out
    silently)."""

    exporter: str
    records: tuple[ImportedRecord, ...]
    people: Mapping[str, ImportedPerson] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


class InterchangeFormat(PluginType):
    """A file format items are exported to and imported from, e.g. the ELN
    Consortium's ``.eln``. One instance per type, named after it (options:
    ``INTERCHANGE_FORMATS``); ``GET /items/<refcode>/export.<name>`` and
    ``labvault export --format <name>`` use it."""

    #: What the format is called for people, e.g. ``"ELN archive (RO-Crate)"``.
    display_name: ClassVar[str] = ""
    #: The file name extension of an export, lowercase with the dot, e.g. ``".eln"``.
    file_extension: ClassVar[str] = ""
    #: The media type of an export, e.g. ``"application/vnd.eln+zip"``.
    media_type: ClassVar[str] = "application/octet-stream"

    def write(self, export: Export) -> Iterator[bytes]:
        """Yield the bytes of ``export`` written in this format, in chunks, with memory
        that does not grow with the files' sizes (they are sent to the client as they
        come): read each file from ``self.host.files`` a chunk at a time.

        Items come from ``export.items`` as they are read; a file or plot named twice
        (the same sha256) may be written once. Raise
        :class:`~labvault.plugin.Invalid` for an export the format cannot write (before
        the first chunk: after it the client has a broken download)."""
        raise NotImplementedError

    def read(self, archive: ImportArchive) -> Imported:
        """The records of ``archive`` (a file of this format being imported), or
        :class:`~labvault.plugin.Invalid` saying why it cannot be read. A format that
        only exports leaves this as it is (``POST /imports`` then refuses it).

        Read metadata with ``archive.read`` (bounded); name data files by their path in
        :class:`ImportedFile`: the core streams them into the file store and checks
        them. Map each record onto labvault's item types where the archive's metadata
        says enough (per exporter, where known), and put the rest in its
        ``metadata``."""
        raise NotImplementedError

    @classmethod
    def imports(cls) -> bool:
        """Whether the format reads archives (overrides :meth:`read`)."""
        return cls.read is not InterchangeFormat.read
