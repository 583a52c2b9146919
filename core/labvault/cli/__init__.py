"""The ``labvault`` command line. Every command reads the same config as the server.

Errors are one clear line (a config report lists each problem) and a non-zero exit.
The root group is here; each command group has a module of its own (``db``, ``users``,
...), and what they share is in ``context`` (the CLI's state) and ``output`` (how
they print).
"""

from __future__ import annotations

import copy
import functools
import sys
from typing import Any

import click

from labvault import __version__
from labvault.cli import (
    audit,
    backups,
    config,
    db,
    exports,
    files,
    imports,
    init,
    inventory,
    items,
    plugin,
    plugins,
    search,
    serve,
    sources,
    tokens,
    users,
)
from labvault.cli.context import CLIState, cli_state
from labvault.errors import ConfigError, LabvaultError


def _names_plugins() -> bool:
    """Whether PLUGINS, as written (config.py, the environment), may enable any: read
    without validating the settings (or importing their schema), importing a plugin or
    building the app."""
    from labvault.settings.sources import written_setting

    return bool(written_setting("PLUGINS"))


class LabvaultGroup(click.Group):
    """The core's commands plus those of enabled plugins (run in an app context)."""

    def _plugin_commands(self, ctx: click.Context) -> dict[str, click.Command]:
        if "plugin_commands" not in ctx.meta:
            commands: dict[str, click.Command] = {}
            try:
                if not _names_plugins():  # then no app is needed to know there are none
                    raise ConfigError([])
                plugins = cli_state(ctx).runtime().plugins
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
            with cli_state(ctx).app().app_context():
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


cli.add_command(audit.audit_command)
cli.add_command(backups.backup)
cli.add_command(config.config)
cli.add_command(db.db)
cli.add_command(exports.export_command)
cli.add_command(imports.import_command)
cli.add_command(files.files)
cli.add_command(init.init_command)
cli.add_command(inventory.inventory)
cli.add_command(items.items)
cli.add_command(plugin.plugin_command)
cli.add_command(plugins.plugins_command)
cli.add_command(search.search)
cli.add_command(serve.serve)
cli.add_command(sources.sources)
cli.add_command(tokens.tokens)
cli.add_command(users.users)


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
    except Exception as exc:
        click.echo(f"error: {_fault_message(exc)}", err=True)
        sys.exit(1)
    sys.exit(result if isinstance(result, int) else 0)


def _fault_message(exc: Exception) -> str:
    """The one line of a database or disk fault; any other exception is raised again.
    (SQLAlchemy is imported here, on the way out: a command that needs no database
    does without it.)"""
    import sqlalchemy as sa

    from labvault.cli.output import database_hint
    from labvault.db import fault_of
    from labvault.errors import StorageFull

    if isinstance(exc, sa.exc.DBAPIError):
        fault = fault_of(exc)
        return fault.message if isinstance(fault, StorageFull) else database_hint(exc)
    if isinstance(exc, OSError):
        fault = fault_of(exc)
        if fault is not None:
            return f"{fault.message} ({exc.filename or exc.strerror})"
    if isinstance(exc, sa.exc.ArgumentError):
        return f"DATABASE_URL: {exc}"
    raise exc
