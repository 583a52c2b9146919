"""What the server and the CLI share, without the web: the settings, the enabled plugins
and their registry, the database and the token signer (:class:`LabvaultState`).

:func:`labvault.app.create_app` wraps one in a Flask app (its routes, API and
blueprints); a CLI command that serves no HTTP (``backup due``, ``users``, ``tokens``)
uses one alone, and so does without Flask, flask-smorest and the API's documents.

A runtime imports only the models its process uses: what enumerates the tables (a
snapshot, a restore, the migrations) is handed ``labvault.models.metadata`` by its
caller, which imports every model.
"""

from __future__ import annotations

import logging
import logging.handlers
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

import marshmallow as ma
import pluggy

from labvault.auth.tokens import TokenSigner
from labvault.backups.job import BackupRun
from labvault.database import Database
from labvault.errors import ConfigError
from labvault.host import CoreHost
from labvault.interchange.job import ExportRun
from labvault.items import types as item_types
from labvault.jobs.service import Jobs
from labvault.loader import build_plugin_manager, call_each
from labvault.plugin import FileStore
from labvault.registry import (
    AUTH_PROVIDERS,
    ITEM_TYPES,
    JOB_RUNNERS,
    JOB_TYPES,
    KINDS,
    THE_INSTANCE,
    Kind,
    Registry,
    build_registry,
    plugin_options,
)
from labvault.search.freshness import keep_search_fresh
from labvault.settings import load_settings, validate_settings
from labvault.signin.urls import public_url_problems
from labvault.versions.recording import keep_versions

if TYPE_CHECKING:
    import flask_smorest

    from labvault.backups.strategies import Backups
    from labvault.plugin import JobType


@dataclass
class EnabledPlugins:
    """The enabled plugins: their plugin manager, hosts and the registry they filled."""

    plugin_manager: pluggy.PluginManager
    hosts: dict[str, CoreHost]
    registry: Registry
    #: The enabled item types (made the process's by :func:`start_runtime`).
    item_types: item_types.ItemTypes

    def call(self, hook_name: str, **kwargs: Any) -> tuple[list[tuple[str, Any]], list[str]]:
        """Ask every plugin for its answer to a hook that takes ``host``."""
        return call_each(self.plugin_manager, hook_name, hosts=self.hosts, **kwargs)


@dataclass
class LabvaultState:
    """What the app knows beyond Flask's config: ``app.extensions["labvault"]``, or what
    a CLI command runs on without an app."""

    settings: dict[str, Any]
    plugins: EnabledPlugins
    database: Database
    signer: TokenSigner
    #: The flask-smorest Api (its spec converts schemas to JSON schema); None without an app.
    api: flask_smorest.Api | None = None
    #: The jobs, run by the runner of ``JOBS`` (made by :func:`start_runtime`).
    jobs: Jobs = field(init=False)

    @property
    def registry(self) -> Registry:
        return self.plugins.registry

    @property
    def file_store(self) -> FileStore:
        return self.registry.file_store()

    def backups(self) -> Backups:
        """The backup strategies of these settings, over this database and file store."""
        from labvault.backups.strategies import Backups
        from labvault.models import metadata  # a snapshot holds every table

        return Backups(self.settings, self.registry, self.database, self.file_store, metadata)


def resolve_settings(config: Mapping[str, Any] | None, *, dev: bool = False) -> dict[str, Any]:
    """Explicit settings are validated as they are; None reads config.py and the environment."""
    if config is None:
        return load_settings(dev=dev)
    return validate_settings(config, dev=dev)


def load_plugins(
    settings: Mapping[str, Any], modules: Mapping[str, ModuleType] | None = None
) -> EnabledPlugins:
    """Enable the configured plugins, give each its host and build the registry; every
    problem in one ConfigError. ``modules``: plugins given as modules (tests), by name."""
    enabled = settings.get("PLUGINS", [])
    pm, problems = build_plugin_manager(enabled, modules)
    schemas, schema_problems = call_each(pm, "labvault_options_schema")
    loaded = [name for name in enabled if pm.has_plugin(name)]
    options, option_problems = plugin_options(settings, schemas, loaded)
    problems += schema_problems + option_problems
    hosts = {
        name: CoreHost(name, settings, options.get(name, {})) for name, _ in pm.list_name_plugin()
    }
    answers: dict[Kind[Any], list[tuple[str, Any]]] = {}
    for kind in KINDS:
        answers[kind], hook_problems = call_each(
            pm, kind.hook, hosts=hosts if kind.takes_host else None
        )
        problems += hook_problems
    registry, registry_problems = build_registry(settings, answers, hosts.__getitem__)
    registry.option_schemas = {
        name: schema
        for name, schema in schemas
        if isinstance(schema, type) and issubclass(schema, ma.Schema)
    }
    problems += registry_problems
    enabled_types = registry.types_of(ITEM_TYPES)
    problems += item_types.problems_of(enabled_types.values(), registry.owners)
    providers = registry.instances_of(AUTH_PROVIDERS)
    problems += public_url_problems(settings.get("PUBLIC_URL"), providers)
    if problems:
        raise ConfigError(problems)
    return EnabledPlugins(pm, hosts, registry, item_types.ItemTypes(enabled_types))


def start_runtime(
    settings: dict[str, Any], plugins: EnabledPlugins, *, bounded: bool = True
) -> LabvaultState:
    """The database (its versions and search index kept by listeners) and the token
    signer for validated settings and loaded plugins; each plugin's host attached to them.
    ``bounded``: the database's waits are bounded by DATABASE_TIMEOUT."""
    state = LabvaultState(
        settings=settings,
        plugins=plugins,
        database=Database(
            settings["DATABASE_URL"],
            settings["DATABASE_TIMEOUT"] if bounded else None,
            sessions=(keep_versions, keep_search_fresh),
        ),
        signer=TokenSigner.from_settings(settings),
    )
    state.jobs = _jobs(state)
    for host in plugins.hosts.values():
        host.attach(state)
    item_types.use(plugins.item_types)
    return state


def _jobs(state: LabvaultState) -> Jobs:
    """The jobs of ``state``: the core's job types and the plugins', run by ``JOBS``."""
    core_host = CoreHost("labvault.jobs", state.settings, {})
    core_host.attach(state)
    core: list[JobType] = [BackupRun(state.backups, core_host), ExportRun(state, core_host)]
    types: dict[str, JobType] = dict(state.registry.instances_of(JOB_TYPES))
    clashes = [
        f"job type name {typ.name!r} of plugin {state.registry.owners[type(types[typ.name])]} "
        "is the core's own"
        for typ in core
        if typ.name in types
    ]
    if clashes:
        raise ConfigError(clashes)
    types.update((typ.name, typ) for typ in core)
    runners = state.registry.instances_of(JOB_RUNNERS)
    return Jobs(state.database, types, lambda: runners[THE_INSTANCE], state.settings["JOB_LEASE"])


def configure_logging(logger: logging.Logger, settings: Mapping[str, Any]) -> None:
    """LOG_LEVEL, and LOG_FILE opened again by the process that writes next once it was
    moved or removed (logrotate without copytruncate): each worker process notices on
    its own."""
    level = getattr(logging, settings["LOG_LEVEL"])
    logger.setLevel(level)
    # the logger is process-wide: replace the file handler of an earlier app, never stack
    for old in [h for h in logger.handlers if getattr(h, "labvault_log_file", False)]:
        logger.removeHandler(old)
        old.close()
    if settings["LOG_FILE"]:
        handler = logging.handlers.WatchedFileHandler(settings["LOG_FILE"])
        handler.labvault_log_file = True  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
