"""``labvault serve``: the server, gunicorn or (``--dev``) Flask's development server."""

from __future__ import annotations

import os
from typing import Any

import click
from flask import Flask

from labvault.cli.context import cli_state
from labvault.errors import LabvaultError
from labvault.slow_clients import HEADER_TIMEOUT, IDLE_TIMEOUT

DEFAULT_BIND = "127.0.0.1:5000"
FIRST_ADMIN_EMAIL = "admin@localhost"


def _first_run(app: Flask, base_url: str) -> None:
    """With no users yet, create an admin and print a bearer token for /doc, once."""
    from labvault.users.service import bootstrap_admin
    from labvault.web.session import get_session

    with app.app_context():
        created = bootstrap_admin(get_session(), FIRST_ADMIN_EMAIL)
    if created is not None:
        click.secho(
            f"\nFirst run: created the admin {FIRST_ADMIN_EMAIL}. Its API key, shown only "
            "this once:\n",
            fg="yellow",
        )
        click.echo(f"    {created}\n")
        click.echo(f"Open {base_url}/doc, click Authorize and paste it. Keep it secret.\n")


def _seconds_option(name: str, default: float, help: str) -> Any:
    """A serve option giving a time limit for slow clients, in seconds."""
    return click.option(
        name,
        type=click.FloatRange(min=0.1, max=3600),
        default=default,
        show_default=True,
        help=help,
    )


@click.command()
@click.option("--dev", is_flag=True, help="Flask's reloader, database upgrade, first-run admin.")
@click.option(
    "--workers", type=click.IntRange(min=1), default=2, show_default=True, help="Processes."
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Requests each worker process serves at once.",
)
@click.option("--bind", default=DEFAULT_BIND, show_default=True, help="HOST:PORT")
@_seconds_option(
    "--header-timeout",
    HEADER_TIMEOUT,
    "Seconds a connection may take to send its request line and headers (then 408).",
)
@_seconds_option(
    "--idle-timeout",
    IDLE_TIMEOUT,
    "Seconds a client may send nothing of its body, or read nothing of the answer.",
)
@click.pass_context
def serve(
    ctx: click.Context,
    dev: bool,
    workers: int,
    threads: int,
    bind: str,
    header_timeout: float,
    idle_timeout: float,
) -> None:
    """Run the server (gunicorn; --dev: Flask's development server).

    Behind a reverse proxy, bind to 127.0.0.1 (README, "Deploying"): the proxy reads
    whole requests, so slow clients hold none of these workers.
    """
    from labvault import migrations

    state = cli_state(ctx)
    state.dev = state.dev or dev
    settings = state.settings()
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter("must be HOST:PORT, e.g. 127.0.0.1:5000", param_hint="--bind")
    if state.dev:
        migrations.upgrade(settings["DATABASE_URL"])
    elif not migrations.is_up_to_date(settings["DATABASE_URL"]):
        raise LabvaultError("the database schema is not up to date: run `labvault db upgrade`")
    from labvault.app import create_app

    app = create_app(dev=state.dev)  # requests wait for the database DATABASE_TIMEOUT at most
    if state.dev:
        if os.environ.get("WERKZEUG_RUN_MAIN") != "true":
            _first_run(app, f"http://{host}:{port}")
        from labvault.server import RedactingRequestHandler

        app.run(
            host=host,
            port=int(port),
            debug=True,
            use_reloader=True,
            use_debugger=False,
            request_handler=RedactingRequestHandler,
        )
        return
    from labvault.server import run_gunicorn

    run_gunicorn(
        app,
        bind=bind,
        workers=workers,
        threads=threads,
        header_timeout=header_timeout,
        idle_timeout=idle_timeout,
    )
