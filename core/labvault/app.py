"""The app factory used by the tests, the CLI and gunicorn."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import flask_smorest
from flask import Flask

from labvault import __version__
from labvault.api import init_api
from labvault.errors import ConfigError
from labvault.items import types as item_types
from labvault.registry import AUTH_PROVIDERS
from labvault.runtime import (
    EnabledPlugins,
    LabvaultState,
    configure_logging,
    load_plugins,
    resolve_settings,
    start_runtime,
)
from labvault.web.bounds import body_limits
from labvault.web.browser import guard_signin_routes
from labvault.web.cookies import CookieSessions
from labvault.web.items import document_item_types
from labvault.web.rules import LazyBuilderRule
from labvault.web.session import close_session
from labvault.web.uploads import UploadRequest

#: Where they were defined before :mod:`labvault.runtime` (the CLI and tests import them here).
__all__ = ["EnabledPlugins", "LabvaultState", "build_app", "create_app", "load_plugins"]


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
    return build_app(start_runtime(settings, plugins, bounded=bounded))


def build_app(state: LabvaultState) -> Flask:
    """The Flask app serving ``state``: its routes, API, plugin blueprints; then every
    plugin's ``labvault_startup``. Its problems raise :class:`ConfigError`."""
    settings = state.settings
    app = Flask("labvault", instance_path=settings["INSTANCE_PATH"])
    app.request_class = UploadRequest  # uploads stream into the file store, hashed on arrival
    app.url_rule_class = LazyBuilderRule  # URL builders compiled by the first url_for
    app.session_interface = CookieSessions()  # its serializer made once, not per request
    app.config.update(
        SECRET_KEY=settings["SECRET_KEY"],
        DEBUG=settings["DEBUG"],
        LABVAULT_VERSION=__version__,
        **body_limits(settings["MAX_CONTENT_LENGTH"], settings["MAX_JSON_LENGTH"]),
    )
    configure_logging(app.logger, settings)
    app.extensions["labvault"] = state
    app.teardown_appcontext(close_session)

    api = state.api = init_api(app, settings)
    catalogue = state.plugins.item_types
    # the process's item types are those of the app serving (tests hold several apps)
    app.before_request(functools.partial(item_types.keep_current, catalogue))
    api.add_to_spec(functools.partial(document_item_types, catalogue))
    problems = _register_extra_blueprints(app, api, state)
    problems += state.plugins.call("labvault_startup", app=app)[1]
    if problems:
        state.database.dispose()
        raise ConfigError(problems)
    return app
