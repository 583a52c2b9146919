"""The registry: the types plugins provide, of ten kinds, and the instances the
settings configure.

``labvault.loader`` asks every plugin's registration hooks for types; this module checks
them, validates the deployer's options of each instance (and each plugin's
``PLUGIN_OPTIONS``) and creates the instances, reporting every problem by key path.
Types and instances are kept by :class:`Kind`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

import marshmallow as ma

from labvault.plugin import (
    AuthProvider,
    BackupTarget,
    BlockType,
    FileSource,
    FileStore,
    Host,
    InterchangeFormat,
    InventoryImporter,
    ItemType,
    JobRunner,
    JobType,
    PluginType,
)
from labvault.settings import flatten_errors

T = TypeVar("T", bound=PluginType)


@dataclass(frozen=True)
class Kind(Generic[T]):
    """One kind of type plugins provide: its registration hook, its base class and the
    setting that configures its instances."""

    #: What a type of this kind is called in messages, e.g. ``"auth provider type"``.
    label: str
    hook: str
    base: type[T]
    #: Setting holding ``{instance_name: {"type": ..., **options}}``; None when every
    #: registered type gets exactly one instance, named after the type.
    setting: str | None
    options_setting: str | None = None
    #: The key within each entry of ``setting`` that holds ``{"type": ..., **options}``,
    #: when an entry configures more than its instance (a backup strategy's ``target``).
    within: str | None = None
    #: Whether the registration hook is given each plugin's ``host``.
    takes_host: bool = False
    #: Whether ``setting`` holds one instance's ``{"type": ..., **options}`` (named
    #: :data:`THE_INSTANCE`) rather than instances by name.
    single: bool = False


#: The name of the one instance of a kind whose setting configures one (``single``).
THE_INSTANCE = "default"


AUTH_PROVIDERS: Kind[AuthProvider] = Kind(
    "auth provider type",
    "labvault_auth_provider_types",
    AuthProvider,
    "AUTH_PROVIDERS",
)
#: One instance per type, named after it.
BLOCK_TYPES: Kind[BlockType] = Kind(
    "block type",
    "labvault_block_types",
    BlockType,
    None,
    options_setting="BLOCK_TYPES",
)
#: Every registered item type is enabled; they take no options.
ITEM_TYPES: Kind[ItemType] = Kind(
    "item type", "labvault_item_types", ItemType, None, takes_host=True
)
FILE_SOURCES: Kind[FileSource] = Kind(
    "file source type", "labvault_file_source_types", FileSource, "FILE_SOURCES"
)
INVENTORY_IMPORTERS: Kind[InventoryImporter] = Kind(
    "inventory importer type",
    "labvault_inventory_importer_types",
    InventoryImporter,
    "INVENTORY_IMPORTERS",
)
#: One target per backup strategy, named after the strategy.
BACKUP_TARGETS: Kind[BackupTarget] = Kind(
    "backup target type",
    "labvault_backup_target_types",
    BackupTarget,
    "BACKUP_STRATEGIES",
    within="target",
)
#: One instance per format, named after it.
INTERCHANGE_FORMATS: Kind[InterchangeFormat] = Kind(
    "interchange format",
    "labvault_interchange_formats",
    InterchangeFormat,
    None,
    options_setting="INTERCHANGE_FORMATS",
)
#: Every registered job type is enabled, one instance each; they take no options.
JOB_TYPES: Kind[JobType] = Kind("job type", "labvault_job_types", JobType, None, takes_host=True)
#: The one runner of every job, ``JOBS``.
JOB_RUNNERS: Kind[JobRunner] = Kind(
    "job runner type", "labvault_job_runner_types", JobRunner, "JOBS", single=True
)
#: The server's one file store, from ``FILE_STORE``.
FILE_STORES: Kind[FileStore] = Kind(
    "file store type",
    "labvault_file_store_types",
    FileStore,  # type: ignore[type-abstract]  # the base of the types, never made itself
    "FILE_STORE",
    single=True,
)
KINDS: tuple[Kind[Any], ...] = (
    AUTH_PROVIDERS,
    BLOCK_TYPES,
    ITEM_TYPES,
    FILE_SOURCES,
    INVENTORY_IMPORTERS,
    BACKUP_TARGETS,
    INTERCHANGE_FORMATS,
    JOB_TYPES,
    JOB_RUNNERS,
    FILE_STORES,
)


@dataclass
class Registry:
    """The types plugins provide and the instances the settings configure, by kind."""

    types: dict[Kind[Any], dict[str, type[PluginType]]] = field(default_factory=dict)
    instances: dict[Kind[Any], dict[str, PluginType]] = field(default_factory=dict)
    #: type -> name of the plugin that provides it, for error messages and /info.
    owners: dict[type[PluginType], str] = field(default_factory=dict)
    #: plugin name -> the schema of its ``PLUGIN_OPTIONS`` (``labvault_options_schema``).
    option_schemas: dict[str, type[ma.Schema]] = field(default_factory=dict)

    def instances_of(self, kind: Kind[T]) -> dict[str, T]:
        """The configured instances of ``kind``, by instance name."""
        return self.instances.get(kind, {})  # type: ignore[return-value]

    def file_store(self) -> FileStore:
        """The server's file store (``FILE_STORE``)."""
        return self.instances_of(FILE_STORES)[THE_INSTANCE]

    def types_of(self, kind: Kind[T]) -> dict[str, type[T]]:
        """The types of ``kind`` enabled plugins provide, by type name."""
        return self.types.get(kind, {})  # type: ignore[return-value]

    def make_instance(
        self,
        kind: Kind[T],
        instance_name: str,
        type_name: str | None,
        options: Mapping[str, Any],
        key_path: tuple[str, ...],
        host_of: Callable[[str], Host],
    ) -> tuple[T | None, list[str]]:
        """An instance of the registered type ``type_name`` with ``options`` (found at
        ``key_path`` of the settings, or of a command's argument), or the problems."""
        types = self.types_of(kind)
        path = ".".join(key_path)
        typ = types.get(type_name or "")
        if typ is None:
            where = f"{path}.type" if kind.setting else path
            known = ", ".join(sorted(types)) or "none (enable the plugin that provides one)"
            what = "missing" if type_name is None else f"unknown {kind.label} {type_name!r}"
            return None, [f"{where}: {what}; available types: {known}"]
        owner = f"{kind.label} {typ.name!r}"
        loaded, problems = load_options(typ.OptionsSchema(), options, path, owner)
        if problems:
            return None, problems
        try:
            return typ(instance_name, loaded, host_of(self.owners[typ])), []
        except Exception as exc:  # a plugin's broken __init__ is a startup problem
            return None, [
                f"{path}: {owner} of plugin {self.owners[typ]} could not create "
                f"this instance: {type(exc).__name__}: {exc}"
            ]

    def settings_schemas(
        self, settings: Mapping[str, Any]
    ) -> Iterator[tuple[tuple[str, ...], ma.Schema]]:
        """Where ``settings`` hold the options of an instance, a block type or a plugin
        (a key path), each with the schema they are read with: what tells which of them
        are secrets."""
        for kind in KINDS:
            types = self.types_of(kind)
            for _, type_name, _, path in _configured(kind, types, settings):
                typ = types.get(type_name or "")
                if typ is not None:
                    yield path, typ.OptionsSchema()
        for name, schema in self.option_schemas.items():
            yield (PLUGIN_OPTIONS, name), schema()


def _collect_types(
    kind: Kind[Any], answers: Iterable[tuple[str, Any]], owners: dict[type[PluginType], str]
) -> tuple[dict[str, type[PluginType]], list[str]]:
    problems: list[str] = []
    types: dict[str, type[PluginType]] = {}
    for plugin_name, answer in answers:
        for returned in answer or ():
            if not (isinstance(returned, type) and issubclass(returned, kind.base)):
                problems.append(
                    f"plugin {plugin_name}: {kind.hook} returned {returned!r}, "
                    f"which is not a subclass of {kind.base.__name__}"
                )
                continue
            typ = cast(type[PluginType], returned)
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


def load_options(schema: ma.Schema, options: Any, path: str, owner: str) -> tuple[Any, list[str]]:
    """``options`` loaded with ``schema``, or the problems by key path.

    An unknown key is reported with what ``owner`` (e.g. ``block type 'xrd'``) takes.
    """
    try:
        return schema.load(options), []
    except ma.ValidationError as err:
        lines = flatten_errors(err.messages, path)
    # flatten_errors speaks of settings; these are options, not settings of their own
    names = sorted(field.data_key or name for name, field in schema.load_fields.items())
    takes = f"takes: {', '.join(names)}" if names else "takes no options"
    unknown = ": unknown setting"
    return None, [
        f"{line.removesuffix(unknown)}: unknown option ({owner} {takes})"
        if line.endswith(unknown)
        else line
        for line in lines
    ]


def _configured(
    kind: Kind[Any], types: dict[str, type[PluginType]], settings: Mapping[str, Any]
) -> Iterator[tuple[str, str | None, dict[str, Any], tuple[str, ...]]]:
    """Yield (instance name, type name, options, key path) for each configured instance."""
    if kind.setting is None:
        setting = kind.options_setting or ""
        options = settings.get(setting, {})
        for name in [*types, *(n for n in options if n not in types)]:
            yield name, name, dict(options.get(name, {})), (setting, name)
        return
    if kind.single:
        spec = dict(settings.get(kind.setting) or {})
        yield THE_INSTANCE, spec.pop("type", None), spec, (kind.setting,)
        return
    for instance_name, entry in settings.get(kind.setting, {}).items():
        path: tuple[str, ...] = (kind.setting, instance_name)
        if kind.within is not None:
            entry, path = entry[kind.within], (*path, kind.within)
        spec = dict(entry)
        yield instance_name, spec.pop("type", None), spec, path


def build_registry(
    settings: Mapping[str, Any],
    hook_answers: Mapping[Kind[Any], list[tuple[str, Any]]],
    host_of: Callable[[str], Host],
) -> tuple[Registry, list[str]]:
    """Collect types from hook answers and create the configured instances.

    ``hook_answers`` maps each kind -> [(plugin name, what its registration hook
    returned)]; ``host_of`` gives the host of a plugin, handed to the instances of its
    types. Returns the registry and every problem found, as key-path lines.
    """
    registry = Registry()
    problems: list[str] = []
    for kind in KINDS:
        types, kind_problems = _collect_types(kind, hook_answers.get(kind, []), registry.owners)
        problems += kind_problems
        registry.types[kind] = types
        instances: dict[str, PluginType] = {}
        for instance_name, type_name, options, key_path in _configured(kind, types, settings):
            instance, instance_problems = registry.make_instance(
                kind, instance_name, type_name, options, key_path, host_of
            )
            problems += instance_problems
            if instance is not None:
                instances[instance_name] = instance
        registry.instances[kind] = instances
    return registry, problems


PLUGIN_OPTIONS = "PLUGIN_OPTIONS"


def plugin_options(
    settings: Mapping[str, Any], schemas: Iterable[tuple[str, Any]], loaded: Iterable[str]
) -> tuple[dict[str, Mapping[str, Any]], list[str]]:
    """Each loaded plugin's ``PLUGIN_OPTIONS`` entry, validated with the schema it declared.

    ``schemas`` are the answers of ``labvault_options_schema``: (plugin name, schema class);
    ``loaded`` the enabled plugins that could be loaded. A plugin without a schema takes
    no options. Returns the options by plugin (``{}`` for one that takes none) and every
    problem by key path.
    """
    given: Mapping[str, Any] = settings.get(PLUGIN_OPTIONS, {})
    declared = dict(schemas)
    problems = [
        f"{PLUGIN_OPTIONS}.{name}: plugin {name!r} is not enabled (add it to PLUGINS)"
        for name in given
        if name not in settings.get("PLUGINS", [])
    ]
    options: dict[str, Mapping[str, Any]] = {}
    for name in loaded:
        schema_class = declared.get(name)
        path = f"{PLUGIN_OPTIONS}.{name}"
        if schema_class is None:
            if given.get(name):
                problems.append(f"{path}: plugin {name!r} takes no options")
            options[name] = {}
            continue
        if not (isinstance(schema_class, type) and issubclass(schema_class, ma.Schema)):
            problems.append(
                f"plugin {name}: labvault_options_schema returned {schema_class!r}, "
                "which is not a marshmallow Schema class"
            )
            continue
        values, option_problems = load_options(
            schema_class(), dict(given.get(name, {})), path, f"plugin {name!r}"
        )
        problems += option_problems
        if not option_problems:
            options[name] = values
    return options, problems
