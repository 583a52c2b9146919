"""What every command shares: the CLI's state (the settings, and the app made once, on
first use), reached from a command's click context with :func:`cli_state`."""

from __future__ import annotations

from typing import Any

import click
from flask import Flask


class CLIState:
    def __init__(self, dev: bool) -> None:
        self.dev = dev
        self._app: Flask | None = None

    def app(self) -> Flask:
        if self._app is None:
            from labvault.app import create_app

            # migrations, backups and imports may take longer than a request
            self._app = create_app(dev=self.dev, bounded=False)
        return self._app

    def settings(self) -> dict[str, Any]:
        from labvault.app import resolve_settings

        return resolve_settings(None, dev=self.dev)


def cli_state(ctx: click.Context) -> CLIState:
    """The state of the ``labvault`` command running (made by the root group)."""
    obj = ctx.find_object(CLIState)
    if obj is None:  # plugin commands are looked up before the group callback runs
        obj = ctx.obj = CLIState(bool(ctx.params.get("dev")))
    return obj
