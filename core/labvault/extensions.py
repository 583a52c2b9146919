"""Base classes of the five extension kinds, and the registry that instantiates them.

A plugin's registration hook returns *types* (subclasses of the bases below), each with a
unique ``name``. The deployer's config then creates named *instances* of those types,
for example::

    AUTH_PROVIDERS = {"campus": {"type": "oidc", "client_id": "..."}}

Every type declares its options as a marshmallow schema (``ConfigSchema``); the core
validates them with the rest of the settings and reports problems by key path.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import IO, Any, ClassVar, Generic, TypeVar, cast

import marshmallow as ma

from labvault.settings import flatten_errors


class EmptyConfigSchema(ma.Schema):
    """The config schema of a type that takes no options."""

    class Meta:
        unknown = ma.RAISE


class Extension:
    """What every extension type has: a unique type name, a description, its options."""

    #: Unique name of the type within its kind, e.g. ``"oidc"`` or ``"tabular"``.
    name: ClassVar[str] = ""
    #: One line shown in ``/info`` and ``labvault plugins``.
    description: ClassVar[str] = ""
    #: Marshmallow schema of the options a deployer may set for an instance.
    ConfigSchema: ClassVar[type[ma.Schema]] = EmptyConfigSchema

    def __init__(self, instance_name: str, config: Mapping[str, Any]) -> None:
        #: The deployer's name for this instance (the key in config).
        self.instance_name = instance_name
        #: The validated options.
        self.config: Mapping[str, Any] = config


class AuthProvider(Extension):
    """A way to sign in (OAuth provider, email link, ...).

    The provider proves who someone is; the core owns users, sessions and tokens.
    """

    #: Label on the sign-in button, e.g. ``"University login"``.
    display_name: ClassVar[str] = ""

    def blueprints(self) -> list[Any]:
        """Flask or flask-smorest blueprints with this provider's login routes."""
        return []


@dataclass(frozen=True)
class BlockFile:
    """A stored file as a block type sees it: read it from ``path``, never write to it."""

    id: int
    name: str
    media_type: str
    size: int
    sha256: str
    path: Path

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


E = TypeVar("E", bound=Extension)


@dataclass(frozen=True)
class Kind(Generic[E]):
    """One extension kind: its hook, its base class and where config creates instances."""

    label: str
    hook: str
    base: type[E]
    #: Setting holding ``{instance_name: {"type": ..., **options}}``; None when every
    #: registered type gets exactly one instance, named after the type.
    setting: str | None
    options_setting: str | None = None


AUTH_PROVIDERS: Kind[AuthProvider] = Kind(
    "auth provider", "labvault_auth_provider_types", AuthProvider, "AUTH_PROVIDERS"
)
BLOCK_TYPES: Kind[BlockType] = Kind(
    "block type", "labvault_block_types", BlockType, None, options_setting="BLOCK_TYPES"
)
FILE_SOURCES: Kind[FileSource] = Kind(
    "file source", "labvault_file_source_types", FileSource, "FILE_SOURCES"
)
INVENTORY_IMPORTERS: Kind[InventoryImporter] = Kind(
    "inventory importer", "labvault_inventory_importers", InventoryImporter, "INVENTORY_IMPORTERS"
)
BACKUP_TARGETS: Kind[BackupTarget] = Kind(
    "backup target", "labvault_backup_target_types", BackupTarget, "BACKUP_TARGETS"
)
KINDS: tuple[Kind[Any], ...] = (
    AUTH_PROVIDERS,
    BLOCK_TYPES,
    FILE_SOURCES,
    INVENTORY_IMPORTERS,
    BACKUP_TARGETS,
)


@dataclass
class Registry:
    """The registered types and configured instances of every kind."""

    types: dict[str, dict[str, type[Extension]]] = field(default_factory=dict)
    instances: dict[str, dict[str, Extension]] = field(default_factory=dict)
    #: type -> name of the plugin that registered it, for error messages and /info.
    owners: dict[type[Extension], str] = field(default_factory=dict)

    def instances_of(self, kind: Kind[E]) -> dict[str, E]:
        return self.instances.get(kind.hook, {})  # type: ignore[return-value]

    def types_of(self, kind: Kind[E]) -> dict[str, type[E]]:
        return self.types.get(kind.hook, {})  # type: ignore[return-value]


def _collect_types(
    kind: Kind[Any], answers: Iterable[tuple[str, Any]], owners: dict[type[Extension], str]
) -> tuple[dict[str, type[Extension]], list[str]]:
    problems: list[str] = []
    types: dict[str, type[Extension]] = {}
    for plugin_name, answer in answers:
        for returned in answer or ():
            if not (isinstance(returned, type) and issubclass(returned, kind.base)):
                problems.append(
                    f"plugin {plugin_name}: {kind.hook} returned {returned!r}, "
                    f"which is not a subclass of {kind.base.__name__}"
                )
                continue
            typ = cast(type[Extension], returned)
            if not typ.name:
                problems.append(f"plugin {plugin_name}: {kind.label} {typ.__name__} has no name")
                continue
            if typ.name in types:
                other = owners[types[typ.name]]
                problems.append(
                    f"{kind.label} name {typ.name!r} is registered twice: "
                    f"by plugin {other} ({types[typ.name].__qualname__}) and by plugin "
                    f"{plugin_name} ({typ.__qualname__})"
                )
                continue
            types[typ.name] = typ
            owners[typ] = plugin_name
    return types, problems


def _load_options(
    kind: Kind[Any], typ: type[Extension], options: Any, path: str
) -> tuple[Any, list[str]]:
    schema = typ.ConfigSchema()
    try:
        return schema.load(options), []
    except ma.ValidationError as err:
        lines = flatten_errors(err.messages, path)
    # flatten_errors speaks of settings; a type's options are not settings of their own
    names = sorted(field.data_key or name for name, field in schema.load_fields.items())
    takes = f"takes: {', '.join(names)}" if names else "takes no options"
    unknown = ": unknown setting"
    return None, [
        f"{line.removesuffix(unknown)}: unknown option ({kind.label} {typ.name!r} {takes})"
        if line.endswith(unknown)
        else line
        for line in lines
    ]


def _configured(
    kind: Kind[Any], types: dict[str, type[Extension]], settings: Mapping[str, Any]
) -> Iterator[tuple[str, str | None, dict[str, Any], str]]:
    """Yield (instance name, type name, options, key path) for each configured instance."""
    if kind.setting is None:
        options = settings.get(kind.options_setting or "", {})
        for name in [*types, *(n for n in options if n not in types)]:
            yield name, name, dict(options.get(name, {})), f"{kind.options_setting}.{name}"
        return
    for instance_name, spec in settings.get(kind.setting, {}).items():
        spec = dict(spec)
        yield instance_name, spec.pop("type", None), spec, f"{kind.setting}.{instance_name}"


def build_registry(
    settings: Mapping[str, Any], hook_answers: Mapping[str, list[tuple[str, Any]]]
) -> tuple[Registry, list[str]]:
    """Collect types from hook answers and create the configured instances.

    ``hook_answers`` maps hook name -> [(plugin name, returned list)]. Returns the
    registry and every problem found, as key-path lines.
    """
    registry = Registry()
    problems: list[str] = []
    for kind in KINDS:
        types, kind_problems = _collect_types(
            kind, hook_answers.get(kind.hook, []), registry.owners
        )
        problems += kind_problems
        registry.types[kind.hook] = types
        instances: dict[str, Extension] = {}
        for instance_name, type_name, options, path in _configured(kind, types, settings):
            typ = types.get(type_name or "")
            if typ is None:
                where = f"{path}.type" if kind.setting else path
                known = ", ".join(sorted(types)) or "none (enable the plugin that provides one)"
                what = "missing" if type_name is None else f"unknown {kind.label} {type_name!r}"
                problems.append(f"{where}: {what}; available types: {known}")
                continue
            config, option_problems = _load_options(kind, typ, options, path)
            problems += option_problems
            if not option_problems:
                instances[instance_name] = typ(instance_name, config)
        registry.instances[kind.hook] = instances
    return registry, problems
