"""Where settings come from: config.py, the environment and the home's ``.env``.

Sources, later ones winning: the schema's defaults, the deployer's ``config.py`` (found
as :mod:`labvault.home` says: ``LABVAULT_CONFIG``, ``$LABVAULT_HOME/config.py`` or
``./config.py``), then ``LABVAULT_<SETTING>`` environment variables (the ``.env`` file
beside config.py is read into the environment first). Values from the environment that
parse as JSON are decoded, so lists and dicts work there too, and ``null`` unsets a
setting that may be None.
"""

from __future__ import annotations

import json
import os
import runpy
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labvault.errors import ConfigError
from labvault.home import CONFIG_ENV_VAR, Location, locate

if TYPE_CHECKING:
    from marshmallow import fields

#: The environment variables of settings: ``LABVAULT_<SETTING>``.
ENV_PREFIX = "LABVAULT_"


def read_config_file(path: Path) -> dict[str, Any]:
    """Run the deployer's config.py and return its uppercase names."""
    if not path.is_file():
        raise ConfigError([f"{CONFIG_ENV_VAR}: config file {path} does not exist"])
    try:
        namespace = runpy.run_path(str(path))
    except Exception as exc:  # a deployer's typo must not become a traceback
        raise ConfigError([f"config file {path}: {type(exc).__name__}: {exc}"]) from exc
    return {k: v for k, v in namespace.items() if k.isupper() and not k.startswith("_")}


def decode_environment_value(field: fields.Field, text: str) -> Any:
    """A setting's value from the text of an environment variable: ``null`` is None for
    a setting that may be None, JSON is decoded except for text settings."""
    from marshmallow import fields

    if text == "null" and field.allow_none:
        return None
    if isinstance(field, fields.String):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def read_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """Take ``LABVAULT_<SETTING>`` variables, decoded (:func:`decode_environment_value`)."""
    from labvault.settings.schema import RETIRED_SETTINGS, SettingsSchema

    schema_fields = SettingsSchema().fields
    values: dict[str, Any] = {}
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX) :]
        if name in RETIRED_SETTINGS:
            values[name] = raw  # to be reported, not dropped in silence
            continue
        if name not in schema_fields:
            continue  # LABVAULT_CONFIG and variables of other tools
        values[name] = decode_environment_value(schema_fields[name], raw)
    return values


def locate_and_read_dotenv(environ: Mapping[str, str] | None = None) -> Location:
    """Where the deployment is (:func:`labvault.home.locate`). Without ``environ`` the
    process's environment is used, and the home's ``.env`` is read into it first
    (never overriding what is set)."""
    if environ is not None:
        return locate(environ)
    location = locate(os.environ)
    from dotenv import load_dotenv

    load_dotenv(location.dotenv, override=False)
    return location


def gather_raw_settings(
    environ: Mapping[str, str] | None = None, config_path: str | os.PathLike[str] | None = None
) -> tuple[dict[str, Any], str | None]:
    """Collect settings from config.py and the environment. Returns (values, source)."""
    location = locate_and_read_dotenv(environ)
    if environ is None:
        environ = os.environ
    config = Path(config_path).expanduser().resolve() if config_path else location.config
    raw: dict[str, Any] = {}
    if config is not None:
        raw.update(read_config_file(config))
    raw.update(read_environment(environ))
    return raw, None if config is None else str(config)


def written_setting(name: str) -> Any:
    """Setting ``name`` as the environment (``LABVAULT_<NAME>``, JSON decoded) or
    config.py writes it, unchecked: a first look that needs no schema (``labvault
    --help`` asks whether PLUGINS may name a plugin)."""
    location = locate_and_read_dotenv()
    text = os.environ.get(ENV_PREFIX + name)
    if text is not None:
        try:
            return json.loads(text)
        except ValueError:
            return text
    return read_config_file(location.config).get(name) if location.config else None


def is_environment_reference(value: Any) -> bool:
    """Whether ``value`` is ``{"env": "NAME"}``: read the value from variable NAME."""
    return isinstance(value, Mapping) and set(value) == {"env"} and isinstance(value["env"], str)


def base_of(source: str | None) -> Path | None:
    """The folder relative paths are relative to: the config file's (None: the working
    directory)."""
    return None if source is None else Path(source).parent
