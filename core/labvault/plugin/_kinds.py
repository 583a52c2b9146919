"""Base classes of the five extension kinds.

A plugin's registration hook returns *types* (subclasses of the bases below), each with a
unique ``name``. The deployer's config then creates named *instances* of those types,
for example::

    AUTH_PROVIDERS = {"campus": {"type": "oidc", "client_id": "..."}}

Every type declares its options as a marshmallow schema (``ConfigSchema``); the core
validates them with the rest of the settings and reports problems by key path. Each
instance is given the :class:`~labvault.plugin.Host` of the plugin that registered its
type as ``self.host``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import IO, TYPE_CHECKING, Any, ClassVar

import marshmallow as ma

if TYPE_CHECKING:
    from labvault.plugin._host import Host


class EmptyConfigSchema(ma.Schema):
    """The config schema of a type that takes no options."""

    class Meta:
        unknown = ma.RAISE


class Extension:
    """What every extension type has: a unique type name, a description, its options.

    The core creates the instances; a subclass that needs setup overrides ``__init__``
    with the same arguments and calls ``super().__init__(instance_name, config, host)``.
    """

    #: Unique name of the type within its kind, e.g. ``"oidc"`` or ``"tabular"``.
    name: ClassVar[str] = ""
    #: One line shown in ``/info`` and ``labvault plugins``.
    description: ClassVar[str] = ""
    #: Marshmallow schema of the options a deployer may set for an instance.
    ConfigSchema: ClassVar[type[ma.Schema]] = EmptyConfigSchema

    def __init__(self, instance_name: str, config: Mapping[str, Any], host: Host) -> None:
        #: The deployer's name for this instance (the key in config).
        self.instance_name = instance_name
        #: The validated options.
        self.config: Mapping[str, Any] = config
        #: The core, as the plugin that registered this type reaches it.
        self.host = host


class AuthProvider(Extension):
    """A way to sign in (OAuth provider, email link, ...).

    The provider proves who someone is and hands the :class:`~labvault.plugin.Identity`
    to ``self.host.sign_in``; the core owns users, sessions and tokens.
    """

    #: Label on the sign-in button, e.g. ``"University login"``.
    display_name: ClassVar[str] = ""

    def blueprints(self) -> list[Any]:
        """Flask or flask-smorest blueprints with this provider's login routes."""
        return []


@dataclass(frozen=True)
class BlockFile:
    """A stored file as a block type sees it; read it with ``host.files.open(sha256)``."""

    id: int
    name: str
    media_type: str
    size: int
    sha256: str

    @property
    def extension(self) -> str:
        """The lowercase extension of ``name`` with its dot (``".csv"``), or ``""``."""
        return PurePath(self.name).suffix.lower()


class BlockType(Extension):
    """A kind of analysis block attached to an item (comment, table, XRD pattern, ...).

    The client writes a block's ``data`` (validated with ``DataSchema``) and ``file_ids``;
    the core then calls :meth:`compute` and stores what it returns as ``computed``.
    """

    #: Version of the block type's data format; bump it when ``DataSchema`` changes.
    version: ClassVar[str] = "1"
    #: File extensions (lowercase, with the dot) the block type can read, e.g. ``[".csv"]``.
    accepted_file_extensions: ClassVar[tuple[str, ...]] = ()
    #: Marshmallow schema of the block's client-written ``data``.
    DataSchema: ClassVar[type[ma.Schema]] = EmptyConfigSchema

    #: Most files a block of this type takes (``None``: no limit).
    max_files: ClassVar[int | None] = None

    def compute(self, data: Mapping[str, Any], files: list[BlockFile]) -> dict[str, Any]:
        """Derive results from the block's data and files; stored as ``computed``.

        Must return JSON-serializable values. Raise
        :class:`labvault.plugin.ExtensionError` with a message for the user when a file
        cannot be parsed; the core stores it as the block's ``error``.
        """
        return {}

    def render_png(
        self, data: Mapping[str, Any], computed: Mapping[str, Any], files: list[BlockFile]
    ) -> bytes | None:
        """A PNG picture of the block (``GET .../blocks/<id>/plot.png``), or None if none."""
        return None


@dataclass(frozen=True)
class RemoteEntry:
    """One file or folder a file source lists."""

    path: str
    is_dir: bool
    size: int | None = None
    modified: float | None = None


class FileSource(Extension):
    """A place where raw data lives (SSH server, mounted share, ...)."""

    def list(self, path: str) -> list[RemoteEntry]:
        """The entries directly inside ``path`` (relative to the source's root)."""
        raise NotImplementedError

    def open(self, path: str) -> IO[bytes]:
        """A binary stream of the file at ``path``; the caller closes it."""
        raise NotImplementedError


class InventoryImporter(Extension):
    """A chemical inventory system whose containers become starting materials."""

    def fetch(self) -> Iterable[Mapping[str, Any]]:
        """Yield starting materials as dicts of item fields (barcode, CAS, name, ...)."""
        raise NotImplementedError


class BackupTarget(Extension):
    """Somewhere backups are written to (a local folder, an object store, ...)."""

    def write(self, name: str, stream: IO[bytes]) -> None:
        """Store the backup ``name`` from ``stream`` completely, or not at all."""
        raise NotImplementedError

    def list(self) -> list[str]:
        """Names of the backups stored here."""
        raise NotImplementedError

    def delete(self, name: str) -> None:
        """Remove the backup ``name``."""
        raise NotImplementedError
