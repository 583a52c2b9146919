"""Running the app under gunicorn from `labvault serve`."""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # newer gunicorn settings are skipped on older ones
                self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


def _post_fork(_server: Any, _worker: Any, app: Flask) -> None:
    # connections must not be shared across processes: each worker opens its own
    app.extensions["labvault"].database.engine.dispose(close=False)


def run_gunicorn(app: Flask, *, bind: str, workers: int) -> None:
    _Gunicorn(
        app,
        {
            "bind": bind,
            "workers": workers,
            "post_fork": lambda server, worker: _post_fork(server, worker, app),
            "accesslog": "-",
            # gunicorn >= 25 otherwise opens a control socket at one fixed path per user
            # ($XDG_RUNTIME_DIR or ~/.gunicorn), so two servers on a host would fight over it
            "control_socket_disable": True,
        },
    ).run()
