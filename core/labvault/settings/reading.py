"""The settings of a command that reads a row or two (``labvault audit``, ``labvault
backup due`` with nothing due), read as config.py and the environment write them,
without the settings' schema: importing marshmallow (whose ``Email`` validator compiles
a case-insensitive class of every letter when imported) and checking every setting was
a third of such a command's work.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labvault.home import DEFAULT_INSTANCE_PATH, database_url, resolve_path
from labvault.settings.sources import (
    ENV_PREFIX,
    is_environment_reference,
    locate_and_read_dotenv,
    read_config_file,
)

#: A backup interval: a number and a unit (m minutes, h hours, d days, w weeks), "12h".
INTERVAL_PATTERN = r"^([1-9][0-9]{0,5})([mhdw])$"


@dataclass(frozen=True)
class ReadingSettings:
    """What a command that reads a row or two needs of the settings."""

    #: As the server opens it (:func:`labvault.home.database_url`).
    database_url: str
    #: BACKUP_STRATEGIES; read as written, only their frequencies are known to be intervals.
    backup_strategies: Mapping[str, Mapping[str, Any]]


class _NotPlain(Exception):
    """A setting the schema must look at before it is used."""


def reading_settings(environ: Mapping[str, str] | None = None) -> ReadingSettings | None:
    """DATABASE_URL and BACKUP_STRATEGIES as config.py and the environment write them,
    for a command that reads a row or two (``labvault audit``, ``labvault backup due``
    with nothing due) without the schema: importing marshmallow and checking every
    setting was a third of such a command's work.

    None when one of them is not plainly usable as written (text where text is due,
    strategies whose frequencies are intervals, ``null``): the command then validates
    every setting (:func:`~labvault.settings.validation.load_settings`), which reports
    the problem as any command does. Problems with other settings are not looked for
    here; the next command that uses them, and ``labvault config check``, report them.
    ``environ`` as for :func:`~labvault.settings.sources.gather_raw_settings`.
    """
    location = locate_and_read_dotenv(environ)
    environ = os.environ if environ is None else environ
    written = read_config_file(location.config) if location.config else {}
    base = Path.cwd() if location.config is None else location.config.parent
    try:
        instance = _as_written(written, environ, "INSTANCE_PATH", DEFAULT_INSTANCE_PATH)
        url = _as_written(written, environ, "DATABASE_URL", None)
        strategies = _as_written(written, environ, "BACKUP_STRATEGIES", {}, text=False)
    except _NotPlain:
        return None
    plain = (
        isinstance(instance, str)
        and (url is None or isinstance(url, str))
        and isinstance(strategies, Mapping)
        and all(
            isinstance(strategy, Mapping)
            and isinstance(strategy.get("frequency"), str)
            and re.match(INTERVAL_PATTERN, strategy["frequency"])
            for strategy in strategies.values()
        )
    )
    if not plain:
        return None
    return ReadingSettings(database_url(url, Path(resolve_path(instance, base)), base), strategies)


def _as_written(
    written: Mapping[str, Any],
    environ: Mapping[str, str],
    name: str,
    default: Any,
    *,
    text: bool = True,
) -> Any:
    """Setting ``name``: its ``LABVAULT_`` variable, else config.py's value (``{"env":
    "NAME"}`` read from NAME), else ``default``; a variable's value is taken as it is
    for a ``text`` setting, else decoded as JSON (as the schema would)."""
    if ENV_PREFIX + name in environ:
        raw = environ[ENV_PREFIX + name]
    elif name not in written:
        return default
    elif is_environment_reference(written[name]):
        raw = environ.get(written[name]["env"], "")
    else:
        return written[name]
    if raw in ("", "null"):  # unset, or None where None may be allowed: the schema says
        raise _NotPlain(name)
    if text:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        raise _NotPlain(name) from None
