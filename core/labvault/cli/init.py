"""``labvault init``: a deployment's folder, made ready to edit.

It writes ``config.py`` (the documented template every setting is in), ``.env`` with a
fresh SECRET_KEY (mode 0600: the only secret labvault needs to start) and the instance
folder (0700). That folder becomes the deployment's home: with ``LABVAULT_HOME`` set
to it, every command finds config.py and .env there, from any working directory (cron).
Nothing is ever overwritten, and nothing is left half-written.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

import click

from labvault.home import CONFIG_NAME, DOTENV_NAME, HOME_ENV_VAR

#: The template config.py is written from (the repository's config-template.py).
TEMPLATE = ("templates", "init", "config.py.tmpl")
#: The folder itself: config.py holds no secret (they are in .env), but nothing in it
#: concerns other users of the machine.
HOME_MODE = 0o750
DOTENV_MODE = 0o600
INSTANCE_NAME = "instance"  # INSTANCE_PATH's default, relative to the home


def _instance_mode() -> int:
    from labvault.settings import INSTANCE_MODE  # when used: it imports the settings' schema

    return INSTANCE_MODE


def config_template() -> str:
    """The documented template of config.py, as shipped in the package."""
    from importlib import resources

    return resources.files("labvault.cli").joinpath(*TEMPLATE).read_text(encoding="utf-8")


def _write_new(path: Path, text: str, mode: int) -> None:
    """Write ``path`` whole, or not at all, and never over an existing file: the text
    goes to a temporary file first, which is then linked to its name (which fails if
    the name is taken, unlike a rename)."""
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)  # the umask may have taken bits the file needs (0644)
        os.link(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def _dotenv_text() -> str:
    return (
        "# Secrets of this labvault deployment, read by every labvault command whose\n"
        f"# config.py is in this folder (mode 0600: keep it so). {HOME_ENV_VAR} names\n"
        '# the folder. Add the variables named by {"env": ...} options here.\n'
        f"LABVAULT_SECRET_KEY={secrets.token_urlsafe(48)}\n"
    )


@click.command("init")
@click.argument(
    "directory",
    required=False,
    default=".",
    type=click.Path(file_okay=False, path_type=Path),
)
def init_command(directory: Path) -> None:
    """Write DIRECTORY/config.py (documented template) and DIRECTORY/.env (a fresh
    SECRET_KEY, mode 0600), and make DIRECTORY/instance (mode 0700). DIRECTORY (default:
    the working directory) is made if missing; existing files are never overwritten."""
    home = directory.expanduser().absolute()
    config, dotenv, instance = home / CONFIG_NAME, home / DOTENV_NAME, home / INSTANCE_NAME
    taken = [path for path in (config, dotenv) if path.exists() or path.is_symlink()]
    if taken:
        names = " and ".join(str(path) for path in taken)
        raise click.ClickException(
            f"{names} already exist{'s' if len(taken) == 1 else ''}: labvault init never "
            "overwrites a deployment's files (move them away, or edit them instead)"
        )
    try:
        _make_deployment(home, config, dotenv, instance)
    except FileExistsError as exc:
        raise click.ClickException(f"{exc.filename} already exists: not overwritten") from exc
    except OSError as exc:
        raise click.ClickException(f"cannot write to {home}: {exc.strerror}") from exc
    for line in _next_steps(home, config, dotenv, instance):
        click.echo(line)


def _make_deployment(home: Path, config: Path, dotenv: Path, instance: Path) -> None:
    written: list[Path] = []
    try:
        home.mkdir(mode=HOME_MODE, parents=True, exist_ok=True)
        _write_new(config, config_template(), 0o640)
        written.append(config)
        _write_new(dotenv, _dotenv_text(), DOTENV_MODE)
        written.append(dotenv)
        instance.mkdir(mode=_instance_mode(), exist_ok=True)
    except BaseException:
        for path in written:  # all or nothing: half a deployment would only mislead
            with contextlib.suppress(OSError):
                path.unlink()
        raise


def _next_steps(home: Path, config: Path, dotenv: Path, instance: Path) -> list[str]:
    return [
        f"wrote {config} (edit it: IDENTIFIER_PREFIX, DATABASE_URL, PLUGINS, ...)",
        f"wrote {dotenv} (a fresh LABVAULT_SECRET_KEY, mode 0600)",
        f"made {instance} (mode 0700)",
        "",
        "next steps:",
        f"  export {HOME_ENV_VAR}={home}    # for every labvault command, cron's too",
        "  labvault config check",
        "  labvault db upgrade",
        "  labvault users create you@example.org --role admin",
        "  labvault serve",
    ]
