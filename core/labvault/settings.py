"""Loading and validating the deployer's settings.

Sources, later ones winning: the defaults below, the deployer's ``config.py`` (path from
``LABVAULT_CONFIG``, else ``./config.py`` when present), then ``LABVAULT_<SETTING>``
environment variables (a ``.env`` file in the working directory is read into the
environment first). Values from the environment that parse as JSON are decoded, so lists
and dicts work there too. Every setting is documented in ``config-template.py``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import os
import re
import runpy
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from labvault.errors import ConfigError

ENV_PREFIX = "LABVAULT_"
CONFIG_ENV_VAR = "LABVAULT_CONFIG"
JWT_ALGORITHMS = ("HS256", "RS256", "ES256")
ROLES = ("user", "manager", "admin")
MIN_SECRET_KEY_LENGTH = 32


class _Strict(ma.Schema):
    class Meta:
        unknown = ma.RAISE


class DeploymentMetadataSchema(_Strict):
    maintainer = fields.String(load_default=None, allow_none=True)
    issue_tracker = fields.URL(load_default=None, allow_none=True)
    homepage = fields.URL(load_default=None, allow_none=True)
    source_repository = fields.URL(load_default=None, allow_none=True)


#: Instances of a kind's types: ``{instance name: {"type": ..., **options}}``.
_instances = fields.Dict(
    keys=fields.String(validate=validate.Regexp(r"^[a-z][a-z0-9_-]{0,39}$")),
    values=fields.Dict(),
    load_default=dict,
)


#: A backup interval: a number and a unit (m minutes, h hours, d days, w weeks), "12h".
INTERVAL_PATTERN = r"^([1-9][0-9]{0,5})([mhdw])$"
#: The kinds of routes RATE_LIMITS limits, with their defaults: "signin" starts and
#: finishes a sign-in (two attempts per sign-in), "token" refreshes, signs out and
#: creates API keys.
DEFAULT_RATE_LIMITS: dict[str, str | None] = {"signin": "20/minute", "token": "30/minute"}
#: A rate limit: attempts per period, "10/minute".
RATE_LIMIT_PATTERN = re.compile(r"^([1-9][0-9]{0,5})/(second|minute|hour|day)$")
_RATE_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
#: An environment variable's name.
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"


class BackupStrategySchema(_Strict):
    """One backup strategy: where its repository is, how often it runs, what it keeps."""

    target = fields.Dict(required=True)  # {"type": ..., **options}: the registry checks it
    frequency = fields.String(
        required=True,
        validate=validate.Regexp(
            INTERVAL_PATTERN, error='must be an interval like "30m", "12h", "1d" or "7d"'
        ),
    )
    retention = fields.Integer(required=True, validate=validate.Range(min=1, max=10_000))
    encryption_key_env = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(ENV_NAME_PATTERN, error="must be an environment variable name"),
    )
    compression_level = fields.Integer(load_default=6, validate=validate.Range(min=0, max=9))


class RateLimit(fields.Field):
    """One rate limit: "<attempts>/<period>", or 0 or None to switch it off (None)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if value in (0, "0") and not isinstance(value, bool):
            return None
        if not isinstance(value, str) or not RATE_LIMIT_PATTERN.match(value):
            raise ma.ValidationError(
                'must be "<attempts>/<second|minute|hour|day>" like "10/minute", '
                "or 0 or None to switch it off"
            )
        return value


def parse_rate_limit(value: str | None) -> tuple[int, dt.timedelta] | None:
    """A validated RATE_LIMITS value as (attempts, period); None when it is off."""
    if value is None:
        return None
    match = RATE_LIMIT_PATTERN.match(value)
    if match is None:
        raise ValueError(f"not a rate limit: {value!r}")
    return int(match[1]), dt.timedelta(seconds=_RATE_PERIODS[match[2]])


#: The X-Forwarded-* headers labvault can take from reverse proxies (PROXY_HEADERS),
#: with the argument of werkzeug's ProxyFix that trusts each.
FORWARDED_HEADERS = {
    "X-Forwarded-For": "x_for",
    "X-Forwarded-Proto": "x_proto",
    "X-Forwarded-Host": "x_host",
    "X-Forwarded-Port": "x_port",
    "X-Forwarded-Prefix": "x_prefix",
}
#: Those taken unless PROXY_HEADERS says otherwise: links come from PUBLIC_URL, so the
#: host, port and prefix a client could forward are not needed.
DEFAULT_PROXY_HEADERS = ("X-Forwarded-For", "X-Forwarded-Proto")
#: Settings that are no more, and what replaced them: config check says so.
RETIRED_SETTINGS = {
    "BEHIND_REVERSE_PROXY": "replaced by PROXY_HOPS (the number of reverse proxies in "
    "front, usually 1) and PROXY_HEADERS",
}


class ForwardedHeader(fields.String):
    """One of FORWARDED_HEADERS, in any case; loaded as FORWARDED_HEADERS spells it."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        for name in FORWARDED_HEADERS:
            if name.lower() == text.strip().lower():
                return name
        raise ma.ValidationError(
            f"not a forwarded header labvault takes: {', '.join(FORWARDED_HEADERS)}"
        )


class SettingsSchema(_Strict):
    """Every setting labvault reads. config-template.py documents each one."""

    IDENTIFIER_PREFIX = fields.String(
        required=True,
        validate=validate.Regexp(r"^[a-z]{1,10}$", error="must be 1 to 10 lowercase ASCII letters"),
    )
    SECRET_KEY = fields.String(load_default=None, allow_none=True)
    INSTANCE_PATH = fields.String(load_default="instance")
    DATABASE_URL = fields.String(load_default=None, allow_none=True)
    FILE_DIRECTORY = fields.String(load_default=None, allow_none=True)
    PLUGINS = fields.List(fields.String(), load_default=list)
    PLUGIN_OPTIONS = fields.Dict(keys=fields.String(), values=fields.Dict(), load_default=dict)
    SESSION_LIFETIME = fields.Integer(load_default=24 * 14, validate=validate.Range(min=1))
    ACCESS_TOKEN_LIFETIME = fields.Integer(load_default=15, validate=validate.Range(min=1))
    MAX_CONTENT_LENGTH = fields.Integer(load_default=1 << 30, validate=validate.Range(min=1))
    MAX_JSON_LENGTH = fields.Integer(load_default=1 << 20, validate=validate.Range(min=1))
    PROXY_HOPS = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10))
    PROXY_HEADERS = fields.List(ForwardedHeader(), load_default=lambda: list(DEFAULT_PROXY_HEADERS))
    API_DOCS = fields.Boolean(load_default=True)
    RATE_LIMITS = fields.Dict(
        keys=fields.String(
            validate=validate.OneOf(
                DEFAULT_RATE_LIMITS, error="not a kind of rate limit: one of {choices}"
            )
        ),
        values=RateLimit(allow_none=True),
        load_default=dict,
        allow_none=True,
    )
    CORS_ORIGINS = fields.List(fields.String(), load_default=list)
    ALLOWED_REDIRECT_ORIGINS = fields.List(
        fields.String(
            validate=validate.Regexp(
                r"^https?://[^/?#@\s]+$", error="must be an origin: scheme://host[:port]"
            )
        ),
        load_default=list,
    )
    PUBLIC_URL = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(r"^https?://[^?#@\s]+$", error="must be an http(s) URL"),
    )
    LOG_FILE = fields.String(load_default=None, allow_none=True)
    LOG_LEVEL = fields.String(
        load_default="INFO",
        validate=validate.OneOf(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]),
    )
    DEBUG = fields.Boolean(load_default=False)
    DEPLOYMENT_METADATA = fields.Nested(DeploymentMetadataSchema, load_default=dict)
    JWT_ALGORITHM = fields.String(load_default="HS256", validate=validate.OneOf(JWT_ALGORITHMS))
    JWT_PRIVATE_KEY_FILE = fields.String(load_default=None, allow_none=True)
    JWT_PUBLIC_KEY_FILE = fields.String(load_default=None, allow_none=True)
    JWT_ISSUER = fields.String(load_default="labvault", validate=validate.Length(min=1))
    AUTH_PROVIDERS = _instances
    FILE_SOURCES = _instances
    INVENTORY_IMPORTERS = _instances
    BACKUP_STRATEGIES = fields.Dict(
        keys=fields.String(validate=validate.Regexp(r"^[a-z][a-z0-9_-]{0,39}$")),
        values=fields.Nested(BackupStrategySchema),
        load_default=dict,
    )
    INVENTORY_MAX_ROWS = fields.Integer(
        load_default=250_000, validate=validate.Range(min=1, max=10_000_000)
    )
    REMOTE_CACHE_MAX_AGE = fields.Float(
        load_default=60.0, validate=validate.Range(min=0, min_inclusive=False)
    )
    REMOTE_CACHE_MIN_AGE = fields.Float(load_default=1.0, validate=validate.Range(min=0))
    MARIADB_SEARCH_ENGINE = fields.String(
        load_default="auto", validate=validate.OneOf(["auto", "mroonga", "innodb"])
    )
    DATABASE_TIMEOUT = fields.Float(load_default=6.0, validate=validate.Range(min=0.5, max=300))
    BLOCK_TYPES = fields.Dict(keys=fields.String(), values=fields.Dict(), load_default=dict)

    @ma.post_load
    def _derive(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        instance = Path(data["INSTANCE_PATH"]).expanduser().resolve()
        data["INSTANCE_PATH"] = str(instance)
        if data["DATABASE_URL"] is None:
            data["DATABASE_URL"] = f"sqlite:///{instance / 'labvault.db'}"
        if data["FILE_DIRECTORY"] is None:
            data["FILE_DIRECTORY"] = str(instance / "files")
        data["FILE_DIRECTORY"] = str(Path(data["FILE_DIRECTORY"]).expanduser().resolve())
        if data["DEPLOYMENT_METADATA"] == {}:
            data["DEPLOYMENT_METADATA"] = DeploymentMetadataSchema().load({})
        # None switches every limit off; a kind left out keeps its default
        limits = data["RATE_LIMITS"]
        data["RATE_LIMITS"] = (
            dict.fromkeys(DEFAULT_RATE_LIMITS) if limits is None else DEFAULT_RATE_LIMITS | limits
        )
        return data


SETTING_NAMES = frozenset(SettingsSchema().fields)


def flatten_errors(messages: Any, prefix: str = "") -> list[str]:
    """Turn marshmallow's nested error dict into ``"KEY.path: message"`` lines."""
    if isinstance(messages, dict):
        lines: list[str] = []
        for key, value in messages.items():
            if key == "_schema":
                lines += flatten_errors(value, prefix)
                continue
            if key == "value" and prefix and isinstance(value, dict | list):
                lines += flatten_errors(value, prefix)  # Dict fields nest value errors
                continue
            path = f"{prefix}.{key}" if prefix else str(key)
            lines += flatten_errors(value, path)
        return lines
    if isinstance(messages, list):
        out: list[str] = []
        for message in messages:
            out += flatten_errors(message, prefix)
        return out
    text = str(messages)
    if text == "Unknown field.":
        text = "unknown setting"
    return [f"{prefix}: {text}" if prefix else text]


def _suggest(name: str) -> str:
    close = difflib.get_close_matches(name, SETTING_NAMES, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def read_config_file(path: Path) -> dict[str, Any]:
    """Run the deployer's config.py and return its uppercase names."""
    if not path.is_file():
        raise ConfigError([f"{CONFIG_ENV_VAR}: config file {path} does not exist"])
    try:
        namespace = runpy.run_path(str(path))
    except Exception as exc:  # a deployer's typo must not become a traceback
        raise ConfigError([f"config file {path}: {type(exc).__name__}: {exc}"]) from exc
    return {k: v for k, v in namespace.items() if k.isupper() and not k.startswith("_")}


def read_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """Take ``LABVAULT_<SETTING>`` variables; JSON values are decoded except for strings."""
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
        value: Any = raw
        if not isinstance(schema_fields[name], fields.String):
            try:
                value = json.loads(raw)
            except ValueError:
                value = raw
        values[name] = value
    return values


def gather_raw_settings(
    environ: Mapping[str, str] | None = None, config_path: str | os.PathLike[str] | None = None
) -> tuple[dict[str, Any], str | None]:
    """Collect settings from config.py and the environment. Returns (values, source)."""
    if environ is None:
        from dotenv import load_dotenv

        load_dotenv(Path.cwd() / ".env", override=False)
        environ = os.environ
    if config_path is None and environ.get(CONFIG_ENV_VAR):
        config_path = environ[CONFIG_ENV_VAR]
    if config_path is None and Path("config.py").is_file():
        config_path = "config.py"
    raw: dict[str, Any] = {}
    source = None
    if config_path is not None:
        path = Path(config_path).expanduser().resolve()
        raw.update(read_config_file(path))
        source = str(path)
    raw.update(read_environment(environ))
    return raw, source


def validate_settings(raw: Mapping[str, Any], *, dev: bool = False) -> dict[str, Any]:
    """Validate settings; raise ConfigError listing every problem with its key path."""
    problems = [
        f"{name}: {RETIRED_SETTINGS[name]}"
        if name in RETIRED_SETTINGS
        else f"{name}: unknown setting{_suggest(name)}"
        for name in raw
        if name not in SETTING_NAMES
    ]
    known = {k: v for k, v in raw.items() if k in SETTING_NAMES}
    try:
        settings: dict[str, Any] = SettingsSchema().load(known)
    except ma.ValidationError as err:
        problems += flatten_errors(err.messages)
        raise ConfigError(sorted(problems)) from None
    problems += _cross_checks(settings, dev=dev)
    if problems:
        raise ConfigError(sorted(problems))
    if settings["SECRET_KEY"] is None:
        settings["SECRET_KEY"] = development_secret_key(Path(settings["INSTANCE_PATH"]))
    return settings


def _cross_checks(settings: dict[str, Any], *, dev: bool) -> list[str]:
    problems = []
    if settings["PROXY_HEADERS"] != list(DEFAULT_PROXY_HEADERS) and not settings["PROXY_HOPS"]:
        problems.append(
            "PROXY_HEADERS: trusts nothing while PROXY_HOPS is 0 (set PROXY_HOPS to the "
            "number of proxies in front)"
        )
    secret = settings["SECRET_KEY"]
    if secret is None and not dev:
        problems.append(
            "SECRET_KEY: required in production (set it in config.py, .env or "
            "LABVAULT_SECRET_KEY; `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
        )
    elif secret is not None and len(secret) < MIN_SECRET_KEY_LENGTH:
        problems.append(f"SECRET_KEY: must be at least {MIN_SECRET_KEY_LENGTH} characters")
    if settings["JWT_ALGORITHM"] != "HS256":
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
    instance_path.mkdir(parents=True, exist_ok=True)
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
    raw, _ = gather_raw_settings(environ)
    raw.update(overrides or {})
    return validate_settings(raw, dev=dev)
