"""Where a deployment lives: the folder holding its ``config.py`` and ``.env``.

A command run from cron or a service manager starts in whatever working directory it
was given, so nothing may depend on it once the deployment's folder is known. The
config file is ``LABVAULT_CONFIG`` (a file) when set, else ``$LABVAULT_HOME/config.py``,
else ``./config.py`` when present; its folder is the *home*: ``.env`` is read from there
and relative paths in the settings are relative to it. Only without any config file are
``.env`` and relative paths taken from the working directory (the development default).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from labvault.errors import ConfigError

CONFIG_ENV_VAR = "LABVAULT_CONFIG"
HOME_ENV_VAR = "LABVAULT_HOME"
CONFIG_NAME = "config.py"
DOTENV_NAME = ".env"
#: INSTANCE_PATH when it is not set (relative to the home, as every path setting is).
DEFAULT_INSTANCE_PATH = "instance"


@dataclass(frozen=True)
class Location:
    """The config file (None: defaults and environment only) and the folder it is in."""

    config: Path | None
    home: Path

    @property
    def dotenv(self) -> Path:
        """The ``.env`` file of the deployment (which need not exist)."""
        return self.home / DOTENV_NAME


def locate(environ: Mapping[str, str], cwd: Path | None = None) -> Location:
    """Find the config file and the home; a named file or folder that is not there is a
    :class:`ConfigError` (a typo in a cron line must not fall back to the defaults)."""
    cwd = Path.cwd() if cwd is None else cwd
    if environ.get(CONFIG_ENV_VAR):
        config = (cwd / Path(environ[CONFIG_ENV_VAR]).expanduser()).resolve()
        if not config.is_file():
            raise ConfigError([f"{CONFIG_ENV_VAR}: config file {config} does not exist"])
        return Location(config, config.parent)
    if environ.get(HOME_ENV_VAR):
        home = (cwd / Path(environ[HOME_ENV_VAR]).expanduser()).resolve()
        config = home / CONFIG_NAME
        if not config.is_file():
            raise ConfigError(
                [
                    f"{HOME_ENV_VAR}: {home} holds no {CONFIG_NAME} "
                    f"(`labvault init {home}` writes one)"
                ]
            )
        return Location(config, home)
    config = cwd / CONFIG_NAME
    return Location(config.resolve() if config.is_file() else None, cwd)


def resolve_path(value: str, base: Path) -> str:
    """``value`` (``~`` expanded) as an absolute path, relative to ``base``."""
    return str((base / Path(value).expanduser()).resolve())


def database_url(url: str | None, instance: Path, base: Path) -> str:
    """DATABASE_URL as the server opens it: unset, an SQLite file in the ``instance``
    folder; an SQLite file's relative path made absolute against ``base``."""
    if url is None:
        url = f"sqlite:///{instance / 'labvault.db'}"
    return resolve_sqlite_url(url, base)


def resolve_sqlite_url(url: str, base: Path) -> str:
    """An SQLite URL whose file is relative made absolute against ``base``; any other
    URL as it is (a malformed one is reported where the database is opened)."""
    # imported here: where this module is imported (the CLI's), SQLAlchemy may be unneeded
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return url
    database = parsed.database
    if (
        not parsed.drivername.startswith("sqlite")
        or not database
        or database == ":memory:"
        or database.startswith("file:")
        or os.path.isabs(os.path.expanduser(database))
    ):
        return url
    absolute = parsed.set(database=resolve_path(database, base))
    return absolute.render_as_string(hide_password=False)
