"""``labvault serve``: the server, gunicorn or (``--dev``) Flask's development server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from labvault.cli.context import cli_state
from labvault.errors import LabvaultError
from labvault.slow_clients import HEADER_TIMEOUT, IDLE_TIMEOUT

if TYPE_CHECKING:
    from flask import Flask

DEFAULT_BIND = "127.0.0.1:5000"
#: gunicorn's worker timeout unless --timeout or GUNICORN_CMD_ARGS says otherwise.
DEFAULT_TIMEOUT = 30
#: The options of `labvault serve` that are gunicorn's settings, by the setting's name.
GUNICORN_OPTIONS = {
    "workers": "workers",
    "threads": "threads",
    "bind": "bind",
    "timeout": "timeout",
    "pidfile": "pid_file",
}
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


def _check_pid_file(path: Path) -> None:
    """A clear error, before gunicorn starts, for a pid file gunicorn could not write."""
    from gunicorn.pidfile import Pidfile

    if not path.parent.is_dir():
        raise click.BadParameter(
            f"the folder {path.parent} does not exist", param_hint="--pid-file"
        )
    try:
        running = Pidfile(str(path)).validate()
    except (OSError, ValueError):
        return  # not a pid file gunicorn can read: it replaces it
    if running:
        raise LabvaultError(
            f"--pid-file {path}: process {running} is running already (another labvault "
            "serve?): stop it, or remove the file if that process is not labvault"
        )


def _gunicorn_settings(ctx: click.Context, options: dict[str, Any]) -> dict[str, Any]:
    """gunicorn's settings: labvault serve's defaults, then GUNICORN_CMD_ARGS, then the
    options given; says on standard error what GUNICORN_CMD_ARGS set and what it did not."""
    from labvault.server import gunicorn_settings

    given: dict[str, Any] = {}
    defaults: dict[str, Any] = {}
    for setting, option in GUNICORN_OPTIONS.items():
        if options[option] is None:
            continue
        explicit = ctx.get_parameter_source(option) != ParameterSource.DEFAULT
        (given if explicit else defaults)[setting] = options[option]
    merged = gunicorn_settings(defaults, given, os.environ.get("GUNICORN_CMD_ARGS"))
    if merged.from_environment:
        taken = " ".join(
            f"{name}={value}" for name, value in sorted(merged.from_environment.items())
        )
        click.echo(f"GUNICORN_CMD_ARGS sets {taken}", err=True)
    if merged.overridden:
        names = ", ".join(merged.overridden)
        click.echo(
            f"GUNICORN_CMD_ARGS: the options given to labvault serve win for {names}", err=True
        )
    return merged.values


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
@click.option(
    "--timeout",
    type=click.IntRange(min=0),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="Seconds a worker process may not answer its master before it is restarted "
    "(gunicorn's --timeout; 0: never).",
)
@click.option(
    "--pid-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the server's process id here (gunicorn's --pid), removed when it stops.",
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
    timeout: int,
    pid_file: Path | None,
) -> None:
    """Run the server (gunicorn; --dev: Flask's development server).

    Behind a reverse proxy, bind to 127.0.0.1 (README, "Deploying"): the proxy reads
    whole requests, so slow clients hold none of these workers.

    gunicorn's GUNICORN_CMD_ARGS is read too: its settings beat this command's defaults,
    and the options given here beat it. It may not change the worker class, the logger
    or which forwarded headers are trusted.
    """
    from labvault import migrations

    state = cli_state(ctx)
    state.dev = state.dev or dev
    settings = state.settings()
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter("must be HOST:PORT, e.g. 127.0.0.1:5000", param_hint="--bind")
    gunicorn: dict[str, Any] = {}
    if not state.dev:  # its mistakes are told before anything starts
        values = {"workers": workers, "threads": threads, "bind": bind, "timeout": timeout}
        gunicorn = _gunicorn_settings(ctx, {**values, "pid_file": pid_file and str(pid_file)})
        if gunicorn.get("pidfile"):
            _check_pid_file(Path(gunicorn["pidfile"]))
    if state.dev:
        migrations.upgrade(settings["DATABASE_URL"])
    elif not migrations.is_up_to_date(settings["DATABASE_URL"]):
        raise LabvaultError("the database schema is not up to date: run `labvault db upgrade`")
    from labvault.app import create_app

    app = create_app(dev=state.dev)  # requests wait for the database DATABASE_TIMEOUT at most
    if state.dev:
        if os.environ.get("WERKZEUG_RUN_MAIN") != "true":
            _first_run(app, f"http://{host}:{port}")
        else:  # the reloader's child serves, and runs jobs
            app.extensions["labvault"].jobs.runner.start()
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

    run_gunicorn(app, gunicorn, header_timeout=header_timeout, idle_timeout=idle_timeout)
