"""What every command shares: the CLI's state (the settings; the runtime and the app,
each made once, on first use), reached from a command's click context with
:func:`cli_state`.

A command imports what it needs when it runs. One that serves no HTTP runs on the
runtime (:mod:`labvault.runtime`: the plugins, the database, the token signer); only one
that needs the app (URLs, an app context for a plugin's command) builds it: a command's
module is imported for ``labvault --help`` too, and the app and its imports (Flask,
flask-smorest, every route) were most of what a command cost.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from flask import Flask
    from sqlalchemy import Connection
    from sqlalchemy.orm import Session

    from labvault.runtime import LabvaultState
    from labvault.settings.reading import ReadingSettings

#: Flask's own format for the app's logger, which a command without the app keeps.
LOG_FORMAT = "[%(asctime)s] %(levelname)s in %(module)s: %(message)s"


class CLIState:
    def __init__(self, dev: bool) -> None:
        self.dev = dev
        self._app: Flask | None = None
        self._runtime: LabvaultState | None = None
        self._settings: dict[str, Any] | None = None
        self._reading: ReadingSettings | None = None

    def runtime(self) -> LabvaultState:
        """The enabled plugins, the database and the token signer, without the app (the
        app's, once it is built)."""
        if self._runtime is None:
            from labvault.runtime import configure_logging, load_plugins, start_runtime

            settings = self.settings()
            plugins = load_plugins(settings)
            # migrations, backups and imports may take longer than a request
            self._runtime = start_runtime(settings, plugins, bounded=False)
            logger = logging.getLogger("labvault")
            _log_to_stderr(logger)  # first, as Flask does when the app's logger is made
            configure_logging(logger, settings)
        return self._runtime

    def app(self) -> Flask:
        """The app, on the runtime (the same plugins and database)."""
        if self._app is None:
            from labvault.app import build_app

            self._app = build_app(self.runtime())
        return self._app

    def settings(self) -> dict[str, Any]:
        """The settings (config.py and the environment), read once."""
        if self._settings is None:
            from labvault.settings import load_settings

            self._settings = load_settings(dev=self.dev)
        return self._settings

    def reading(self) -> ReadingSettings:
        """The settings of a command that reads a row or two, read once: as written where
        they are plainly usable so (no schema), else from :meth:`settings`."""
        if self._reading is None:
            from labvault.settings.reading import ReadingSettings, reading_settings

            if self._settings is None:
                self._reading = reading_settings()
            if self._reading is None:
                settings = self.settings()
                self._reading = ReadingSettings(
                    settings["DATABASE_URL"], settings["BACKUP_STRATEGIES"]
                )
        return self._reading

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A database connection of its own, for a command that only reads rows with
        SQLAlchemy Core: no app, no plugins, no ORM, no settings' schema (the runtime's
        engine, when it is built)."""
        if self._runtime is not None:
            with self._runtime.database.engine.connect() as connection:
                yield connection
            return
        from labvault.database import create_engine

        engine = create_engine(self.reading().database_url)
        try:
            with engine.connect() as connection:
                yield connection
        finally:
            engine.dispose()

    @contextmanager
    def runtime_session(self) -> Iterator[Session]:
        """A session of the runtime's database, as an app context's is (its audit events
        name no client), closed at the end."""
        from labvault.audit.service import CLIENT

        session = self.runtime().database.sessionmaker(info={CLIENT: None})
        try:
            yield session
        finally:
            session.close()


def _log_to_stderr(logger: logging.Logger) -> None:
    """What Flask adds to the app's logger when nothing handles its level: a handler
    writing to stderr in Flask's format (so a command's log lines read as they did when
    every command built the app)."""
    level = logger.getEffectiveLevel()
    current: logging.Logger | None = logger
    while current is not None:
        if any(handler.level <= level for handler in current.handlers):
            return
        current = current.parent if current.propagate else None
    handler = StderrHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logger.addHandler(handler)


class StderrHandler(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is when a record comes (Flask's handler does too:
    a test's CliRunner swaps it for each command)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass  # StreamHandler's constructor sets it


def cli_state(ctx: click.Context) -> CLIState:
    """The state of the ``labvault`` command running (made by the root group)."""
    obj = ctx.find_object(CLIState)
    if obj is None:  # plugin commands are looked up before the group callback runs
        obj = ctx.obj = CLIState(bool(ctx.params.get("dev")))
    return obj
