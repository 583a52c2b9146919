"""A snapshot keeps the config without its secrets.

What is hidden is known three ways: every option its schema declares with
``labvault.plugin.Secret`` (nested too), every password in a URL (userinfo, and query
parameters such as ``?password=`` and ``sslpassword=``), and a conservative list of names
(``apikey``, ``pwd``, ``webhook_url``, ...) for what a schema does not declare. The
first test fills every Secret of every installed plugin's and type's schema with a
marker; none may reach the snapshot.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import tarfile
from collections.abc import Iterator
from typing import Any

import marshmallow as ma
from labvault.backups import runs
from labvault.backups.snapshot import public_config
from labvault.loader import installed_plugins
from labvault.plugin import Secret, SecretValue
from labvault.registry import KINDS, PLUGIN_OPTIONS

from tests.backup_lab import backups_of

OPTIONS_PLUGIN = """
    import marshmallow as ma
    from labvault.plugin import Secret, hookimpl

    class Hook(ma.Schema):
        name = ma.fields.String()
        url = Secret()

    class Options(ma.Schema):
        token = Secret(data_key="apiToken")
        hooks = ma.fields.List(ma.fields.Nested(Hook))
        by_site = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Nested(Hook))
        mirrors = ma.fields.Nested(Hook, many=True)
        pair = ma.fields.Tuple((ma.fields.String(), Secret()))
        label = ma.fields.String()

    @hookimpl
    def labvault_options_schema():
        return Options
"""
#: Option names no schema declares secret, but that a snapshot hides all the same.
#: Option names that say a value is a secret (not e.g. kms_key_id, a key's name).
SAYS_SECRET = re.compile(r"secret|passw|passphrase|token|api_?key|credential")
NAMED_SECRETS = ("apikey", "pwd", "webhook_url", "api_key", "passphrase", "auth_token")


class Markers:
    """Unique texts to put where secrets go, half of them as {"env": ...} references."""

    def __init__(self) -> None:
        self.given: list[str] = []
        self._count = itertools.count()

    def __call__(self) -> Any:
        number = next(self._count)
        marker = f"MARKER{number:03d}X"
        self.given.append(marker)
        return {"env": marker} if number % 2 else marker

    def sample(self, field: ma.fields.Field) -> Any:
        """A value for ``field``: a marker for a Secret, wherever it is nested."""
        if isinstance(field, Secret):
            return self()
        if isinstance(field, ma.fields.Nested):
            options = self.options(field.schema)
            return [options] if field.many else options
        if isinstance(field, ma.fields.List):
            return [self.sample(field.inner)]
        if isinstance(field, ma.fields.Tuple):
            return [self.sample(inner) for inner in field.tuple_fields]
        if isinstance(field, ma.fields.Dict) and field.value_field is not None:
            return {"somewhere": self.sample(field.value_field)}
        if isinstance(field, ma.fields.Boolean):
            return True
        if isinstance(field, ma.fields.Number):
            return 7
        return "visible"

    def options(self, schema: ma.Schema) -> dict[str, Any]:
        options = {
            field.data_key or name: self.sample(field) for name, field in schema.fields.items()
        }
        options.update({name: self() for name in NAMED_SECRETS})
        return options


def every_plugin(dists: Any) -> list[str]:
    dists.add("hooks_plugin", OPTIONS_PLUGIN)
    return sorted(installed_plugins())


def settings_with_every_type(app: Any, markers: Markers) -> dict[str, Any]:
    """An instance of every registered type (each kind where its setting puts it), and
    options of every plugin with an options schema, their secrets all markers."""
    registry = app.extensions["labvault"].registry
    settings: dict[str, Any] = {
        "SECRET_KEY": markers(),
        "DATABASE_URL": f"postgresql://lab:{markers()}@db/lab?sslpassword={markers()}&x=1",
        "BLOCK_TYPES": {},
        "INTERCHANGE_FORMATS": {},
        "AUTH_PROVIDERS": {},
        "FILE_SOURCES": {},
        "INVENTORY_IMPORTERS": {},
        "BACKUP_STRATEGIES": {},
        PLUGIN_OPTIONS: {
            name: markers.options(schema()) for name, schema in registry.option_schemas.items()
        },
    }
    for kind in KINDS:
        if kind.setting is None and kind.options_setting is None:
            continue  # a kind whose types take no options (item types)
        for type_name, typ in registry.types_of(kind).items():
            options = markers.options(typ.OptionsSchema())
            if kind.setting is None:
                settings[kind.options_setting][type_name] = options
            elif kind.single:  # one instance: the type with the most options (s3's)
                held = settings.get(kind.setting, {"type": None})
                if len(options) >= len(held) - 1:
                    settings[kind.setting] = {"type": type_name, **options}
            elif kind.within is not None:
                target = {"type": type_name, **options}
                entry = {"target": target, "frequency": "1d", "retention": 1}
                settings[kind.setting][f"{type_name}-1"] = entry
            else:
                settings[kind.setting][f"{type_name}-1"] = {"type": type_name, **options}
    return settings


def test_no_secret_option_of_any_installed_plugin_reaches_a_snapshot(dists, make_app):
    app = make_app(PLUGINS=every_plugin(dists))
    markers = Markers()
    settings = settings_with_every_type(app, markers)
    registry = app.extensions["labvault"].registry
    # every kind has types here: the real ones of plugins/ and the core's
    assert {"ssh", "s3", "oidc", "github", "orcid", "email", "local"} <= {
        name for kind in KINDS for name in registry.types_of(kind)
    }
    assert "hooks_plugin" in registry.option_schemas

    with app.app_context():
        backups = dataclasses.replace(backups_of(app), settings=settings)
        text = json.dumps(backups.public_settings())

    leaked = [marker for marker in markers.given if marker in text]
    assert leaked == [], f"{len(leaked)} of {len(markers.given)} secrets in the snapshot"
    assert '"visible"' in text and len(markers.given) > 60


def test_a_snapshot_of_a_site_with_inline_secrets_names_none(make_app, tmp_path):
    key_file = tmp_path / "id_ed25519"
    key_file.write_text("not a key, but there")
    secrets = ["ssh-passphrase-1", "AKIAINLINEKEY", "s3-secret-2", "gh-secret-3"]
    app = make_app(
        PLUGINS=["fs_ssh", "backup_s3", "auth_github"],
        FILE_SOURCES={
            "xrd": {
                "type": "ssh",
                "hostname": "xrd.example.org",
                "username": "lab",
                "key_file": str(key_file),
                "key_passphrase": secrets[0],
            }
        },
        BACKUP_STRATEGIES={
            "offsite": {
                "target": {
                    "type": "s3",
                    "bucket": "lab-backups",
                    "access_key_id": secrets[1],
                    "secret_access_key": secrets[2],
                },
                "frequency": "1d",
                "retention": 2,
            }
        },
        AUTH_PROVIDERS={
            "github": {"type": "github", "client_id": "Iv1.abc", "client_secret": secrets[3]}
        },
    )
    from labvault.migrations import create_schema

    create_schema(app.extensions["labvault"].database.engine)
    with app.app_context():
        runs.create_archive(backups_of(app), tmp_path / "lab.tar.gz")
    with tarfile.open(tmp_path / "lab.tar.gz") as archive:
        config = archive.extractfile("labvault-backup/config.json").read().decode()  # type: ignore[union-attr]

    assert [secret for secret in secrets if secret in config] == []
    assert "xrd.example.org" in config and "Iv1.abc" in config and "lab-backups" in config


def test_urls_keep_no_password_and_names_hide_what_no_schema_declares():
    config = public_config(
        {
            "SECRET_KEY": "s" * 40,
            "DATABASE_URL": "mysql+pymysql://lab:hunter2@db.example.org/lab?charset=utf8mb4&password=p2",
            "PLUGIN_OPTIONS": {
                "notify": {
                    "apikey": "k1",
                    "pwd": "p3",
                    "webhook_url": "https://hooks.example.org/T0/B0/tok4",
                    "mirror": "https://user:p5@mirror.example.org/x?sig=s6&token=t7#access_token=t8",
                    "client_id": "Iv1.abc",
                }
            },
            "AUTH_PROVIDERS": {"uni": {"type": "oidc", "client_secret": {"env": "UNI_SECRET"}}},
            "BACKUP_STRATEGIES": {"s": {"target": {"type": "s3", "key": SecretValue("AKID")}}},
            "CORS_ORIGINS": ["https://lab.example.org"],
        },
        [],
    )

    text = json.dumps(config)
    for secret in ("s" * 40, "hunter2", "p2", "k1", "p3", "tok4", "p5", "s6", "t7", "t8", "AKID"):
        assert secret not in text, secret
    assert "UNI_SECRET" not in text
    assert config["DATABASE_URL"] == (
        "mysql+pymysql://lab:***@db.example.org/lab?charset=utf8mb4&password=***"
    )
    assert config["PLUGIN_OPTIONS"]["notify"]["client_id"] == "Iv1.abc"
    assert config["PLUGIN_OPTIONS"]["notify"]["mirror"].startswith("https://user:***@mirror")
    assert config["CORS_ORIGINS"] == ["https://lab.example.org"]


def test_every_option_named_as_a_secret_is_declared_secret(dists, make_app):
    """A plugin's password, token or key is a Secret field: read from the environment
    if the deployer wishes, and never shown."""
    app = make_app(PLUGINS=every_plugin(dists))
    registry = app.extensions["labvault"].registry

    def undeclared(schema: ma.Schema, path: str) -> Iterator[str]:
        for name, field in schema.fields.items():
            if isinstance(field, ma.fields.Nested):
                yield from undeclared(field.schema, f"{path}.{name}")
            elif SAYS_SECRET.search(name) and not isinstance(field, Secret):
                yield f"{path}.{name}"

    found = [
        problem
        for kind in KINDS
        for type_name, typ in registry.types_of(kind).items()
        for problem in undeclared(typ.OptionsSchema(), type_name)
    ]
    assert found == []
