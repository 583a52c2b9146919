"""Checking settings: every problem at once, each with its key path.

A setting given as ``{"env": "NAME"}`` is read from the variable NAME first (decoded as
``LABVAULT_*`` values are). Where a setting is invalid its default stands in, so that
what depends on the others (plugins and their options, ``labvault config check``'s
checks of the machine) can still be checked in the same pass.
"""

from __future__ import annotations

import difflib
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import marshmallow as ma
from marshmallow import fields

from labvault.errors import ConfigError
from labvault.settings.schema import (
    DEFAULT_PROXY_HEADERS,
    INSTANCE_MODE,
    MIN_SECRET_KEY_LENGTH,
    RETIRED_SETTINGS,
    SETTING_NAMES,
    SettingsSchema,
    flatten_errors,
)
from labvault.settings.sources import (
    base_of,
    decode_environment_value,
    gather_raw_settings,
    is_environment_reference,
)

#: Stands in for an invalid or missing IDENTIFIER_PREFIX while the rest is checked.
_STAND_IN_PREFIX = "lab"


def _suggest(name: str) -> str:
    close = difflib.get_close_matches(name, SETTING_NAMES, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _read_references(
    known: Mapping[str, Any], environ: Mapping[str, str]
) -> tuple[dict[str, Any], list[str], set[str]]:
    """Settings given as ``{"env": "NAME"}`` replaced by the variable's value; one that
    is not set is a problem and left out (its default stands in while the rest is
    checked). Returns (values, problems, names of the settings left out)."""
    schema_fields = SettingsSchema().fields
    values: dict[str, Any] = {}
    problems = []
    unset = set()
    for name, value in known.items():
        if not is_environment_reference(value):
            values[name] = value
            continue
        variable = value["env"]
        text = environ.get(variable)
        if not text:
            problems.append(f"{name}: the environment variable {variable} is not set")
            unset.add(name)
            continue
        values[name] = decode_environment_value(schema_fields[name], text)
    if "IDENTIFIER_PREFIX" in unset:  # required: without a stand-in it would be reported twice
        values["IDENTIFIER_PREFIX"] = _STAND_IN_PREFIX
    return values, problems, unset


def _load_leniently(
    known: Mapping[str, Any], base: Path | None
) -> tuple[dict[str, Any] | None, list[str], set[str]]:
    """Load ``known``; where a setting is invalid, its default (an invalid entry of a
    dict setting: the entry) is left out and the rest loaded again, so that what depends
    on the others (plugins and their options) can still be checked in the same pass.
    Returns (settings or None, problems, names of the invalid settings)."""
    schema = SettingsSchema(base)
    try:
        return schema.load(known), [], set()
    except ma.ValidationError as err:
        messages = err.messages if isinstance(err.messages, dict) else {}
        problems = flatten_errors(err.messages)
    retry = dict(known)
    for name, message in messages.items():
        if name not in retry:
            continue
        value = retry[name]
        if (
            isinstance(schema.fields.get(name), fields.Dict)
            and isinstance(message, dict)
            and isinstance(value, Mapping)
            and set(message) <= set(value)
        ):
            retry[name] = {k: v for k, v in value.items() if k not in message}
        else:
            del retry[name]
    if "IDENTIFIER_PREFIX" in messages:
        retry["IDENTIFIER_PREFIX"] = _STAND_IN_PREFIX
    try:
        return schema.load(retry), problems, set(messages)
    except ma.ValidationError:  # a bug of the schema's defaults: report what we have
        return None, problems, set(messages)


def inspect_settings(
    raw: Mapping[str, Any],
    *,
    dev: bool = False,
    base: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any] | None, list[str]]:
    """Every problem of ``raw`` in one pass, and the settings as valid as they can be
    made (each invalid setting's default stands in; None if even that fails). ``base``:
    the folder relative paths are relative to (None: the working directory);
    ``environ``: where ``{"env": "NAME"}`` values are read (the process's environment)."""
    problems = [
        f"{name}: {RETIRED_SETTINGS[name]}"
        if name in RETIRED_SETTINGS
        else f"{name}: unknown setting{_suggest(name)}"
        for name in raw
        if name not in SETTING_NAMES
    ]
    known = {k: v for k, v in raw.items() if k in SETTING_NAMES}
    environ = os.environ if environ is None else environ
    known, reference_problems, unset = _read_references(known, environ)
    settings, load_problems, invalid = _load_leniently(known, base)
    problems += reference_problems + load_problems
    if settings is not None:
        problems += _cross_checks(settings, dev=dev, invalid=invalid | unset)
    return settings, sorted(problems)


def validate_settings(
    raw: Mapping[str, Any],
    *,
    dev: bool = False,
    base: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Validate settings; raise ConfigError listing every problem with its key path.

    ``base`` and ``environ`` as for :func:`inspect_settings`.
    """
    settings, problems = inspect_settings(raw, dev=dev, base=base, environ=environ)
    if problems or settings is None:
        raise ConfigError(problems)
    if settings["SECRET_KEY"] is None:
        settings["SECRET_KEY"] = development_secret_key(Path(settings["INSTANCE_PATH"]))
    return settings


def _cross_checks(settings: dict[str, Any], *, dev: bool, invalid: set[str]) -> list[str]:
    """Problems of settings together; ``invalid`` settings (their defaults standing in)
    are left out of them."""
    problems = []
    if (
        settings["PROXY_HEADERS"] != list(DEFAULT_PROXY_HEADERS)
        and not settings["PROXY_HOPS"]
        and "PROXY_HOPS" not in invalid
    ):
        problems.append(
            "PROXY_HEADERS: trusts nothing while PROXY_HOPS is 0 (set PROXY_HOPS to the "
            "number of proxies in front)"
        )
    secret = settings["SECRET_KEY"]
    if secret is None and not dev and "SECRET_KEY" not in invalid:
        problems.append(
            "SECRET_KEY: required in production (set it in config.py, .env or "
            "LABVAULT_SECRET_KEY; `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
        )
    elif secret is not None and len(secret) < MIN_SECRET_KEY_LENGTH:
        problems.append(f"SECRET_KEY: must be at least {MIN_SECRET_KEY_LENGTH} characters")
    if settings["JWT_ALGORITHM"] != "HS256" and "JWT_ALGORITHM" not in invalid:
        for key in ("JWT_PRIVATE_KEY_FILE", "JWT_PUBLIC_KEY_FILE"):
            path = settings[key]
            if not path:
                problems.append(
                    f"{key}: required when JWT_ALGORITHM is {settings['JWT_ALGORITHM']}"
                )
            elif not Path(path).is_file():
                problems.append(f"{key}: file {path} does not exist")
    if len(set(settings["PLUGINS"])) != len(settings["PLUGINS"]):
        problems.append("PLUGINS: a plugin is listed twice")
    places: dict[str, str] = {}
    for name, strategy in settings["BACKUP_STRATEGIES"].items():
        place = json.dumps(strategy["target"], sort_keys=True, default=str)
        if place in places:
            problems.append(
                f"BACKUP_STRATEGIES.{name}.target: the same place as strategy "
                f"{places[place]}; give each strategy its own (its retention would remove "
                "the other's files)"
            )
        places.setdefault(place, name)
    return problems


def development_secret_key(instance_path: Path) -> str:
    """The development key: generated once, kept in the instance folder (mode 0600)."""
    path = instance_path / "secret_key"
    if path.is_file():
        return path.read_text().strip()
    instance_path.mkdir(mode=INSTANCE_MODE, parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    os.replace(tmp, path)
    return key


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    dev: bool = False,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Settings from config.py + environment (+ explicit overrides), validated."""
    raw, source = gather_raw_settings(environ)
    raw.update(overrides or {})
    return validate_settings(raw, dev=dev, base=base_of(source), environ=environ)
