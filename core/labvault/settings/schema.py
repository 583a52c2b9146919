"""The settings' schema: every setting labvault reads, its default and its checks.

config-template.py documents each one; :mod:`labvault.settings.sources` reads them and
:mod:`labvault.settings.validation` checks them.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from labvault.home import DEFAULT_INSTANCE_PATH, database_url, resolve_path
from labvault.settings.reading import INTERVAL_PATTERN

JWT_ALGORITHMS = ("HS256", "RS256", "ES256")
ROLES = ("user", "manager", "admin")
MIN_SECRET_KEY_LENGTH = 32
#: The instance folder holds the development key and the SQLite database: the server's
#: user alone reads it.
INSTANCE_MODE = 0o700


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
    """Every setting labvault reads. config-template.py documents each one.

    ``base``: the folder relative paths are relative to (config.py's; None: the working
    directory).
    """

    def __init__(self, base: Path | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base = base

    IDENTIFIER_PREFIX = fields.String(
        required=True,
        validate=validate.Regexp(r"^[a-z]{1,10}$", error="must be 1 to 10 lowercase ASCII letters"),
    )
    SECRET_KEY = fields.String(load_default=None, allow_none=True)
    INSTANCE_PATH = fields.String(load_default=DEFAULT_INSTANCE_PATH)
    DATABASE_URL = fields.String(load_default=None, allow_none=True)
    FILE_DIRECTORY = fields.String(load_default=None, allow_none=True)
    FILE_STORE = fields.Dict(keys=fields.String(), load_default=lambda: {"type": "local"})
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
    IMPORT_MAX_UNPACKED_SIZE = fields.Integer(
        load_default=64 * 1024**3, validate=validate.Range(min=1)
    )
    IMPORT_MAX_PARTS = fields.Integer(
        load_default=200_000, validate=validate.Range(min=1, max=10_000_000)
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
    INTERCHANGE_FORMATS = fields.Dict(keys=fields.String(), values=fields.Dict(), load_default=dict)
    JOBS = fields.Dict(load_default=lambda: {"type": "embedded"})
    JOB_LEASE = fields.Float(load_default=60.0, validate=validate.Range(min=1, max=3600))

    @ma.post_load
    def _derive(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        base = Path.cwd() if self.base is None else self.base
        instance = Path(resolve_path(data["INSTANCE_PATH"], base))
        data["INSTANCE_PATH"] = str(instance)
        data["DATABASE_URL"] = database_url(data["DATABASE_URL"], instance, base)
        if data["FILE_DIRECTORY"] is None:
            data["FILE_DIRECTORY"] = str(instance / "files")
        for name in PATH_SETTINGS:
            if data[name] is not None:
                data[name] = resolve_path(data[name], base)
        if data["DEPLOYMENT_METADATA"] == {}:
            data["DEPLOYMENT_METADATA"] = DeploymentMetadataSchema().load({})
        # None switches every limit off; a kind left out keeps its default
        limits = data["RATE_LIMITS"]
        data["RATE_LIMITS"] = (
            dict.fromkeys(DEFAULT_RATE_LIMITS) if limits is None else DEFAULT_RATE_LIMITS | limits
        )
        return data


SETTING_NAMES = frozenset(SettingsSchema().fields)
#: Settings that name a file or folder, made absolute against config.py's folder (as
#: INSTANCE_PATH and SQLite's DATABASE_URL are).
PATH_SETTINGS = ("FILE_DIRECTORY", "LOG_FILE", "JWT_PRIVATE_KEY_FILE", "JWT_PUBLIC_KEY_FILE")


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
