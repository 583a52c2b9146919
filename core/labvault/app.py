"""The app factory used by the tests, the CLI and gunicorn."""

from __future__ import annotations

import functools
import logging
import logging.handlers
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import flask_smorest
import marshmallow as ma
import pluggy
from flask import Flask

from labvault import __version__
from labvault.api import init_api
from labvault.auth.tokens import TokenSigner
from labvault.db import Database
from labvault.errors import ConfigError
from labvault.files.storage import FileStore
from labvault.host import CoreHost
from labvault.loader import build_plugin_manager, call_each
from labvault.registry import (
    AUTH_PROVIDERS,
    KINDS,
    Kind,
    Registry,
    build_registry,
    plugin_options,
)
from labvault.search import keep_search_fresh
from labvault.settings import load_settings, validate_settings
from labvault.signin.urls import public_url_problems
from labvault.versions.service import keep_versions
from labvault.web.bounds import body_limits
from labvault.web.browser import guard_signin_routes
from labvault.web.cookies import CookieSessions
from labvault.web.session import close_session
from labvault.web.uploads import UploadRequest


@dataclass
class EnabledPlugins:
    """The enabled plugins: their plugin manager, hosts and the registry they filled."""

    plugin_manager: pluggy.PluginManager
    hosts: dict[str, CoreHost]
    registry: Registry

    def call(self, hook_name: str, **kwargs: Any) -> tuple[list[tuple[str, Any]], list[str]]:
        """Ask every plugin for its answer to a hook that takes ``host``."""
        return call_each(self.plugin_manager, hook_name, hosts=self.hosts, **kwargs)


@dataclass
class LabvaultState:
    """What the app knows beyond Flask's config: ``app.extensions["labvault"]``."""

    settings: dict[str, Any]
    plugins: EnabledPlugins
    database: Database
    signer: TokenSigner
    #: The flask-smorest Api (its spec converts schemas to JSON schema).
    api: flask_smorest.Api | None = None

    @property
    def registry(self) -> Registry:
        return self.plugins.registry

    @property
    def file_store(self) -> FileStore:
        return FileStore(Path(self.settings["FILE_DIRECTORY"]))


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
        answers[kind], hook_problems = call_each(pm, kind.hook)
        problems += hook_problems
    registry, registry_problems = build_registry(settings, answers, hosts.__getitem__)
    registry.option_schemas = {
        name: schema
        for name, schema in schemas
        if isinstance(schema, type) and issubclass(schema, ma.Schema)
    }
    problems += registry_problems
    providers = registry.instances_of(AUTH_PROVIDERS)
    problems += public_url_problems(settings.get("PUBLIC_URL"), providers)
    if problems:
        raise ConfigError(problems)
    return EnabledPlugins(pm, hosts, registry)


def _configure_logging(app: Flask, settings: Mapping[str, Any]) -> None:
    """LOG_FILE is opened again by the process that writes next once it was moved or
    removed (logrotate without copytruncate): each worker process notices on its own."""
    level = getattr(logging, settings["LOG_LEVEL"])
    app.logger.setLevel(level)
    # app.logger is process-wide: replace the file handler of an earlier app, never stack
    for old in [h for h in app.logger.handlers if getattr(h, "labvault_log_file", False)]:
        app.logger.removeHandler(old)
        old.close()
    if settings["LOG_FILE"]:
        handler = logging.handlers.WatchedFileHandler(settings["LOG_FILE"])
        handler.labvault_log_file = True  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        app.logger.addHandler(handler)


def _register_extra_blueprints(
    app: Flask, api: flask_smorest.Api, state: LabvaultState
) -> list[str]:
    """Serve the blueprints of plugins and auth providers; a clash names its owner."""
    answers, problems = state.plugins.call("labvault_blueprints")
    signin_blueprints: set[str] = set()  # a provider's own routes are sign-in routes
    owned = [(f"plugin {owner}", blp) for owner, returned in answers for blp in returned or ()]
    for name, provider in state.registry.instances_of(AUTH_PROVIDERS).items():
        try:
            blueprints = provider.blueprints()
        except Exception as exc:  # a broken provider is a startup problem, not a traceback
            problems.append(f"AUTH_PROVIDERS.{name}: blueprints() raised {exc!r}")
            continue
        owned += [(f"auth provider {name}", blueprint) for blueprint in blueprints]
        signin_blueprints.update(getattr(blueprint, "name", "") for blueprint in blueprints)
    for owner, blueprint in owned:
        try:
            # flask-smorest documents its own blueprints; plain Flask ones are served as is
            if isinstance(blueprint, flask_smorest.Blueprint):
                api.register_blueprint(blueprint)
            else:
                app.register_blueprint(blueprint)
        except Exception as exc:  # e.g. a name or URL already taken
            label = getattr(blueprint, "name", repr(blueprint))
            problems.append(f"{owner}: blueprint {label!r} cannot be registered: {exc}")

    app.before_request(functools.partial(guard_signin_routes, frozenset(signin_blueprints)))
    return problems


def create_app(
    config: Mapping[str, Any] | None = None,
    *,
    dev: bool = False,
    bounded: bool = True,
    plugin_modules: Mapping[str, ModuleType] | None = None,
) -> Flask:
    """Build the labvault app.

    ``config`` maps setting names to values (tests); without it the deployer's config.py
    and ``LABVAULT_*`` environment variables are read. Invalid settings or plugins raise
    :class:`ConfigError` listing every problem. ``bounded``: the database's waits are
    bounded by DATABASE_TIMEOUT (the server; the CLI's commands may run longer).
    ``plugin_modules``: plugins given as modules, not installed, by their name in PLUGINS
    (``labvault_make_app(plugins=[module])`` in a test).
    """
    settings = resolve_settings(config, dev=dev)
    plugins = load_plugins(settings, plugin_modules)

    app = Flask("labvault", instance_path=settings["INSTANCE_PATH"])
    app.request_class = UploadRequest  # uploads stream into the file store, hashed on arrival
    app.session_interface = CookieSessions()  # its serializer made once, not per request
    app.config.update(
        SECRET_KEY=settings["SECRET_KEY"],
        DEBUG=settings["DEBUG"],
        LABVAULT_VERSION=__version__,
        **body_limits(settings["MAX_CONTENT_LENGTH"], settings["MAX_JSON_LENGTH"]),
    )
    _configure_logging(app, settings)
    state = LabvaultState(
        settings=settings,
        plugins=plugins,
        database=Database(
            settings["DATABASE_URL"], settings["DATABASE_TIMEOUT"] if bounded else None
        ),
        signer=TokenSigner.from_settings(settings),
    )
    keep_versions(state.database.sessionmaker)
    keep_search_fresh(state.database.sessionmaker)
    for host in plugins.hosts.values():
        host.attach(state)
    app.extensions["labvault"] = state
    app.teardown_appcontext(close_session)

    api = state.api = init_api(app, settings)
    problems = _register_extra_blueprints(app, api, state)
    problems += plugins.call("labvault_startup", app=app)[1]
    if problems:
        state.database.dispose()
        raise ConfigError(problems)
    return app
