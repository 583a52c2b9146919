"""The ``labvault`` command line. Every command reads the same config as the server.

Errors are one clear line (a config report lists each problem) and a non-zero exit.
"""

from __future__ import annotations

import copy
import functools
import os
import sys
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa
from flask import Flask

from labvault import __version__
from labvault.auth.models import Role, Status
from labvault.db import fault_of
from labvault.errors import ConfigError, LabvaultError, StorageFull
from labvault.files.storage import DEFAULT_GRACE_SECONDS
from labvault.slow_clients import HEADER_TIMEOUT, IDLE_TIMEOUT

DEFAULT_BIND = "127.0.0.1:5000"
FIRST_ADMIN_EMAIL = "admin@localhost"


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


def _obj(ctx: click.Context) -> CLIState:
    obj = ctx.find_object(CLIState)
    if obj is None:  # plugin commands are looked up before the group callback runs
        obj = ctx.obj = CLIState(bool(ctx.params.get("dev")))
    return obj


class LabvaultGroup(click.Group):
    """The core's commands plus those of enabled plugins (run in an app context)."""

    def _plugin_commands(self, ctx: click.Context) -> dict[str, click.Command]:
        if "plugin_commands" not in ctx.meta:
            commands: dict[str, click.Command] = {}
            try:
                plugins = _obj(ctx).app().extensions["labvault"].plugins
                for _, answer in plugins.call("labvault_cli_commands")[0]:
                    for command in answer or ():
                        commands[command.name or ""] = command
            except ConfigError:
                pass  # `labvault config check` reports it; core commands still work
            ctx.meta["plugin_commands"] = commands
        result: dict[str, click.Command] = ctx.meta["plugin_commands"]
        return result

    def list_commands(self, ctx: click.Context) -> list[str]:
        core = super().list_commands(ctx)
        return core + sorted(set(self._plugin_commands(ctx)) - set(core))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        plugin_command = self._plugin_commands(ctx).get(cmd_name)
        if plugin_command is None or plugin_command.callback is None:
            return plugin_command
        wrapped = copy.copy(plugin_command)
        original = plugin_command.callback

        @functools.wraps(original)
        def in_app_context(*args: Any, **kwargs: Any) -> Any:
            with _obj(ctx).app().app_context():
                return original(*args, **kwargs)

        wrapped.callback = in_app_context
        return wrapped


@click.group(cls=LabvaultGroup)
@click.version_option(__version__, prog_name="labvault")
@click.option(
    "--dev",
    is_flag=True,
    envvar="LABVAULT_DEV",
    help="Development mode: a SECRET_KEY is generated once and kept in the instance folder.",
)
@click.pass_context
def cli(ctx: click.Context, dev: bool) -> None:
    """labvault: the lab data server."""
    ctx.obj = CLIState(dev)


# --- serve -------------------------------------------------------------------------


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


@cli.command()
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

    state = _obj(ctx)
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


# --- db ----------------------------------------------------------------------------


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply the migrations (safe to run again)."""
    from labvault import migrations

    settings = _obj(ctx).settings()
    engine = migrations.upgrade(settings["DATABASE_URL"], "head", settings["MARIADB_SEARCH_ENGINE"])
    click.echo(
        f"database is at revision {migrations.head_revision()}; search: {_engine_name(engine)}"
    )


def _engine_name(engine: str | None) -> str:
    from labvault.search import ENGINE_NAMES

    return ENGINE_NAMES.get(engine or "", engine or "?")


# --- search --------------------------------------------------------------------------


@cli.group()
def search() -> None:
    """Full-text search."""


@search.command("reindex")
@click.pass_context
def search_reindex(ctx: click.Context) -> None:
    """Rebuild the search index from the items (MariaDB with Mroonga keeps a copy of
    their texts; the other databases index the items themselves)."""
    import time

    from labvault.search import engine_in_use, reindex

    started = time.monotonic()
    engine = _obj(ctx).app().extensions["labvault"].database.engine
    used = engine_in_use(engine)
    if used != "mroonga":
        click.echo(f"search: {_engine_name(used)}, kept in step by the database: nothing to do")
        return
    bars = _Bars()
    count = reindex(engine, lambda done, total: bars("reindexing", done, total))
    bars.close()
    click.echo(f"reindexed {count} items in {time.monotonic() - started:.1f} s")


# --- config ------------------------------------------------------------------------


@cli.group()
def config() -> None:
    """Configuration."""


@config.command("check")
@click.pass_context
def config_check(ctx: click.Context) -> None:
    """Validate settings, plugins and their options without starting the server."""
    from labvault.app import create_app, load_plugins
    from labvault.settings import gather_raw_settings, validate_settings

    raw, source = gather_raw_settings()
    click.echo(f"config file: {source or 'none (defaults and environment only)'}")
    problems: list[str] = []
    try:
        settings = validate_settings(raw, dev=_obj(ctx).dev)
    except ConfigError as exc:
        problems += exc.problems
        settings = None
    plugins = raw.get("PLUGINS", [])
    try:
        if settings is not None:  # everything the server checks when it starts
            create_app(settings, dev=_obj(ctx).dev).extensions["labvault"].database.dispose()
        elif isinstance(plugins, list) and all(isinstance(p, str) for p in plugins):
            load_plugins({"PLUGINS": plugins})  # still report the plugins' problems
    except ConfigError as exc:
        problems += exc.problems
    if problems:
        raise ConfigError(problems)
    click.echo("configuration is valid")
    assert settings is not None
    click.echo(f"search: {_search_engine_of(settings)}")


def _search_engine_of(settings: dict[str, Any]) -> str:
    from labvault.db import create_engine
    from labvault.search import engine_in_use

    engine = create_engine(settings["DATABASE_URL"])
    try:
        return _engine_name(engine_in_use(engine))
    except sa.exc.DBAPIError as exc:
        return f"unknown ({_database_hint(exc)})"
    finally:
        engine.dispose()


# --- plugins -----------------------------------------------------------------------


@cli.command("plugins")
def plugins_command() -> None:
    """List installed plugins and whether PLUGINS enables them."""
    from labvault.loader import installed_plugins
    from labvault.settings import gather_raw_settings

    enabled = gather_raw_settings()[0].get("PLUGINS") or []
    rows = [
        (p.name, p.distribution, p.version, "yes" if p.name in enabled else "no")
        for found in installed_plugins().values()
        for p in found
    ]
    if not rows:
        click.echo("no plugins installed")
        return
    _table(("name", "distribution", "version", "enabled"), sorted(rows))


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    widths = [max(len(str(v)) for v in column) for column in zip(header, *rows, strict=False)]
    for row in (header, *rows):
        click.echo("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


# --- users -------------------------------------------------------------------------

ROLE_CHOICE = click.Choice([r.value for r in Role])


@cli.group()
def users() -> None:
    """User accounts."""


@users.command("create")
@click.argument("email")
@click.option("--role", type=ROLE_CHOICE, default=Role.USER.value, show_default=True)
@click.option("--name", default="", help="Display name (default: the part before @).")
@click.pass_context
def users_create(ctx: click.Context, email: str, role: str, name: str) -> None:
    """Create an active user."""
    from labvault.users.service import create_user
    from labvault.web.session import get_session

    with _obj(ctx).app().app_context():
        user = create_user(get_session(), email, display_name=name, role=Role(role))
        click.echo(f"created user {user.id} {user.email} ({user.role.value})")


@users.command("list")
@click.pass_context
def users_list(ctx: click.Context) -> None:
    """List users."""
    from labvault.users.service import list_users
    from labvault.web.session import get_session

    with _obj(ctx).app().app_context():
        session = get_session()
        rows = [
            (u.id, u.email or "-", u.display_name, u.role.value, u.status.value)
            for u in session.scalars(list_users())
        ]
    if not rows:
        click.echo("no users")
        return
    _table(("id", "email", "name", "role", "status"), rows)


@users.command("set-role")
@click.argument("who")
@click.argument("role", type=ROLE_CHOICE)
@click.pass_context
def users_set_role(ctx: click.Context, who: str, role: str) -> None:
    """Change a user's role (WHO: an email or a user id)."""
    _change_user(ctx, who, role=Role(role))


@users.command("activate")
@click.argument("who")
@click.pass_context
def users_activate(ctx: click.Context, who: str) -> None:
    """Activate an account (WHO: an email or a user id), e.g. one a sign-in registered."""
    _change_user(ctx, who, status=Status.ACTIVE)


@users.command("deactivate")
@click.argument("who")
@click.pass_context
def users_deactivate(ctx: click.Context, who: str) -> None:
    """Deactivate a user: their tokens and API keys stop working at once."""
    _change_user(ctx, who, status=Status.DEACTIVATED)


def _change_user(ctx: click.Context, who: str, **changes: Any) -> None:
    from flask import current_app

    from labvault.audit.service import CLI
    from labvault.users.service import find_user, update_user
    from labvault.web.session import get_session

    with _obj(ctx).app().app_context():
        session = get_session()
        signer = current_app.extensions["labvault"].signer
        user = find_user(session, who, for_update=True)
        user = update_user(session, signer, user, actor=CLI, **changes)
        name = user.email or f"user {user.id}"
        click.echo(
            f"{name} is now {user.role.value}"
            if "role" in changes
            else f"{name} is {user.status.value}"
        )


# --- tokens ------------------------------------------------------------------------


@cli.group()
def tokens() -> None:
    """Access tokens."""


@tokens.command("issue")
@click.option("--user", "email", required=True, help="Email or id of the user.")
@click.option(
    "--minutes",
    type=click.IntRange(min=1),
    default=None,
    help="Lifetime (default: ACCESS_TOKEN_LIFETIME).",
)
@click.pass_context
def tokens_issue(ctx: click.Context, email: str, minutes: int | None) -> None:
    """Print an access token (alone on stdout, for scripts).

    It is the token of a session of its own that ends with it: deactivating the user
    revokes it as it does every session.
    """
    import datetime as dt

    from flask import current_app

    from labvault.auth.service import start_session
    from labvault.users.service import find_user
    from labvault.web.session import get_session

    with _obj(ctx).app().app_context():
        session = get_session()
        user = find_user(session, email)
        if not user.is_active:
            raise LabvaultError(f"{user.email or f'user {user.id}'} is deactivated")
        signer = current_app.extensions["labvault"].signer
        lifetime = dt.timedelta(minutes=minutes) if minutes else signer.lifetime
        # the refresh token is not shown: the session ends with this token
        tokens = start_session(session, signer, user, lifetime, access_lifetime=lifetime)
        click.echo(tokens.access_token)


# --- files -------------------------------------------------------------------------


@cli.group()
def files() -> None:
    """Stored files."""


@files.command("gc")
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@click.option(
    "--grace-seconds",
    type=click.IntRange(min=0),
    default=DEFAULT_GRACE_SECONDS,
    show_default=True,
    help="Keep files and content younger than this: longer than any upload takes.",
)
@click.pass_context
def files_gc(ctx: click.Context, dry_run: bool, grace_seconds: int) -> None:
    """Remove files no item, block or version refers to, and their content."""
    from labvault.audit.service import CLI
    from labvault.files_gc import collect_garbage
    from labvault.web.session import get_session

    app = _obj(ctx).app()
    with app.app_context():
        try:
            report = collect_garbage(
                get_session(),
                app.extensions["labvault"].file_store,
                grace_seconds=grace_seconds,
                dry_run=dry_run,
                actor=CLI,
            )
        except OSError as exc:
            raise LabvaultError(f"file store: {exc}") from exc
    verb = "would remove" if dry_run else "removed"
    for removed in report.files:
        click.echo(f"{verb} file {removed.id} {removed.name} ({removed.size} bytes)")
    for digest in report.content.removed:
        click.echo(f"{verb} content {digest}")
    content = report.content
    if not (report.files or content.removed or content.temp_files_removed):
        click.echo("nothing to remove")
        return
    click.echo(
        f"{verb} {len(report.files)} file record(s), {len(content.removed)} stored "
        f"content(s) and {content.temp_files_removed} abandoned temp file(s); "
        f"{content.bytes_freed} bytes {'would be ' if dry_run else ''}freed"
    )


# --- file sources ------------------------------------------------------------------


@cli.group()
def sources() -> None:
    """File sources: their listings."""


@sources.command("list")
@click.pass_context
def sources_list(ctx: click.Context) -> None:
    """Show every file source and the state of its listing."""
    from labvault.sources.service import FileSources, source_infos
    from labvault.web.session import get_session

    app = _obj(ctx).app()
    state = app.extensions["labvault"]
    with app.app_context():
        infos = source_infos(get_session(), FileSources.configured(state.settings, state.registry))
    if not infos:
        click.echo("no file sources (FILE_SOURCES is empty)")
        return
    rows = [
        (
            i["name"],
            i["type"],
            i["entry_count"],
            "never" if i["cache_age"] is None else f"{i['cache_age']} s ago",
            i["last_error"] or "-",
        )
        for i in infos
    ]
    _table(("name", "type", "entries", "built", "last error"), rows)


@sources.command("sync")
@click.argument("name", required=False)
@click.pass_context
def sources_sync(ctx: click.Context, name: str | None) -> None:
    """Rebuild the listing of one file source, or of all (for cron)."""
    import time

    from labvault.sources import listing
    from labvault.sources.service import FileSources
    from labvault.web.session import get_session

    app = _obj(ctx).app()
    state = app.extensions["labvault"]
    sources = FileSources.configured(state.settings, state.registry)
    with app.app_context():
        names = [name] if name else list(sources.instances)
        synced = failed = entries = 0
        for each in names:
            source = sources.get(each)
            started = time.monotonic()

            def progress(count: int, label: str = each) -> None:
                click.echo(f"\r{label}: {count} entries", nl=False, err=True)

            try:
                done = listing.rebuild(get_session(), each, source, progress)
            except LabvaultError as exc:
                failed += 1
                click.echo(f"\n{each}: failed: {exc}", err=True)
                continue
            finally:
                source.close()
            click.echo("", err=True)
            if not done:
                click.echo(f"{each}: skipped, another process is rebuilding it")
                continue
            state = listing.state_of(get_session(), each)
            count = state.entry_count if state is not None else 0
            synced, entries = synced + 1, entries + count
            click.echo(f"{each}: {count} entries in {time.monotonic() - started:.1f} s")
    click.echo(f"synced {synced} of {len(names)} source(s), {entries} entries, {failed} failed")
    if failed:
        raise SystemExit(1)


# --- inventory -----------------------------------------------------------------------


@cli.group()
def inventory() -> None:
    """Inventory imports."""


@inventory.command("import")
@click.argument("instance")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--user", "who", required=True, help="Email or id of the manager importing.")
@click.option("--dry-run", is_flag=True, help="Report what would happen; write nothing.")
@click.option("--mark-missing", metavar="STATUS", help="Status for items the export lacks.")
@click.pass_context
def inventory_import(
    ctx: click.Context,
    instance: str,
    file: Path,
    who: str,
    dry_run: bool,
    mark_missing: str | None,
) -> None:
    """Import an inventory export FILE with the importer INSTANCE."""
    from labvault.auth.models import Role
    from labvault.inventory.service import Importers, import_file
    from labvault.users.service import find_user
    from labvault.web.session import get_session

    def progress(rows: int) -> None:
        click.echo(f"\r{rows} rows read", nl=False, err=True)

    app = _obj(ctx).app()
    state = app.extensions["labvault"]
    with app.app_context():
        session = get_session()
        user = find_user(session, who)
        if not user.is_active or not user.has_role(Role.MANAGER):
            raise LabvaultError(f"{who} is not an active manager or admin")
        with file.open("rb") as stream:
            report = import_file(
                session,
                Importers.configured(state.settings, state.registry),
                user,
                instance,
                stream,
                file.name,
                dry_run=dry_run,
                mark_missing=mark_missing,
                progress=progress,
            )
    click.echo("", err=True)
    for rejected in report["rejected"]:
        column = f" {rejected['column']}" if rejected["column"] else ""
        click.echo(f"row {rejected['row']}{column}: rejected: {rejected['reason']}")
    for warning in report["warnings"]:
        click.echo(f"row {warning['row']}: warning: {warning['warning']}")
    if report["missing"]:
        click.echo(f"missing from the export: {' '.join(report['missing'])}")
    counts = ", ".join(f"{count} {what}" for what, count in report["counts"].items())
    click.echo(f"{'dry run, nothing written: ' if dry_run else ''}{counts}")


# --- progress and sizes (shared by command modules) ------------------------------


class _Bars:
    """Progress bars on stderr for ``progress(stage, amount, total)``, one per stage."""

    def __init__(self) -> None:
        self._stage: str | None = None
        self._bar: Any = None

    def __call__(self, stage: str, amount: int, total: int) -> None:
        if stage != self._stage:
            self.close()
            self._stage = stage
            self._bar = click.progressbar(length=max(total, 1), label=stage, file=sys.stderr)
            self._bar.__enter__()
        self._bar.update(amount)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None
            self._stage = None


def _size(count: int) -> str:
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"  # pragma: no cover


def _database_hint(exc: sa.exc.DBAPIError) -> str:
    text = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    if "no such table" in text or "doesn't exist" in text or "does not exist" in text:
        return f"database is not set up ({text}): run `labvault db upgrade`"
    return f"database error: {text}"


# the command groups of their own modules, registered on ``cli`` as they are imported
from labvault.cli import audit as _audit  # noqa: E402, F401
from labvault.cli import backups as _backups  # noqa: E402, F401


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``labvault`` console script."""
    try:
        result = cli.main(args=argv, prog_name="labvault", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ConfigError as exc:
        click.echo(exc.report(), err=True)
        sys.exit(1)
    except LabvaultError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except sa.exc.DBAPIError as exc:
        fault = fault_of(exc)
        hint = fault.message if isinstance(fault, StorageFull) else _database_hint(exc)
        click.echo(f"error: {hint}", err=True)
        sys.exit(1)
    except OSError as exc:
        fault = fault_of(exc)
        if fault is None:
            raise
        click.echo(f"error: {fault.message} ({exc.filename or exc.strerror})", err=True)
        sys.exit(1)
    except sa.exc.ArgumentError as exc:
        click.echo(f"error: DATABASE_URL: {exc}", err=True)
        sys.exit(1)
    sys.exit(result if isinstance(result, int) else 0)
