"""What every command shares: the CLI's state (the settings, and the app made once, on
first use), reached from a command's click context with :func:`cli_state`.

A command imports what it needs when it runs, and builds the app only when it needs one
(its plugins, an app context): a command's module is imported for ``labvault --help``
too, and the app and its imports are most of what a command costs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from flask import Flask
    from sqlalchemy.orm import Session


class CLIState:
    def __init__(self, dev: bool) -> None:
        self.dev = dev
        self._app: Flask | None = None
        self._settings: dict[str, Any] | None = None

    def app(self) -> Flask:
        if self._app is None:
            from labvault.app import create_app

            # migrations, backups and imports may take longer than a request
            self._app = create_app(dev=self.dev, bounded=False)
        return self._app

    def settings(self) -> dict[str, Any]:
        """The settings (config.py and the environment), read once."""
        if self._app is not None:
            settings: dict[str, Any] = self._app.extensions["labvault"].settings
            return settings
        if self._settings is None:
            from labvault.settings import load_settings

            self._settings = load_settings(dev=self.dev)
        return self._settings

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A database session of its own, for a command that only reads rows: no app and
        no plugins (the app's session, in its app context, when the app is built)."""
        if self._app is not None:
            from labvault.web.session import get_session

            with self._app.app_context():
                yield get_session()
            return
        from labvault.db import Database

        database = Database(self.settings()["DATABASE_URL"], None)
        try:
            with database.sessionmaker() as session:
                yield session
        finally:
            database.dispose()


def cli_state(ctx: click.Context) -> CLIState:
    """The state of the ``labvault`` command running (made by the root group)."""
    obj = ctx.find_object(CLIState)
    if obj is None:  # plugin commands are looked up before the group callback runs
        obj = ctx.obj = CLIState(bool(ctx.params.get("dev")))
    return obj
