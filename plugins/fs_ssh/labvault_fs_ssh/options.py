"""The options of an SSH file source (``FILE_SOURCES = {"xrd-pc": {"type": "ssh", ...}}``)."""

from __future__ import annotations

import os
from typing import Any

import marshmallow as ma
from labvault.plugin import FileSourceOptions, Secret
from marshmallow import fields, validate

_PORT = validate.Range(min=1, max=65535)
_SECONDS = validate.Range(min=0, min_inclusive=False, max=3600)


class _KeyFile(fields.String):
    """A private key file: ``~`` expanded, and it must exist, so that a typo shows at
    startup (``labvault config check``) rather than at the first listing."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        path = os.path.expanduser(super()._deserialize(value, attr, data, **kwargs))
        if not os.path.isfile(path):
            raise ma.ValidationError(f"no such file: {path}")
        return path


def _key_needed(data: dict[str, Any]) -> None:
    if data.get("key_file") is None and not data.get("use_agent"):
        raise ma.ValidationError(
            "give the private key to log in with (or set use_agent: true)", "key_file"
        )


class JumpHostOptions(ma.Schema):
    """A host the connection goes through, like ``ssh -J``. Unset options take the
    values of the source (username, key_file, key_passphrase, use_agent)."""

    class Meta:
        unknown = ma.RAISE

    hostname = fields.String(required=True, validate=validate.Length(min=1))
    port = fields.Integer(load_default=22, validate=_PORT)
    username = fields.String(load_default=None, validate=validate.Length(min=1))
    key_file = _KeyFile(load_default=None)
    key_passphrase = Secret(load_default=None)
    use_agent = fields.Boolean(load_default=None)


class SshOptions(FileSourceOptions):
    """What a deployer sets for an SSH file source; with the core's description,
    max_depth, max_entries and excludes."""

    hostname = fields.String(required=True, validate=validate.Length(min=1))
    port = fields.Integer(load_default=22, validate=_PORT)
    username = fields.String(required=True, validate=validate.Length(min=1))
    key_file = _KeyFile(
        load_default=None, metadata={"description": "private key; optional with use_agent"}
    )
    key_passphrase = Secret(load_default=None, metadata={"description": "of key_file"})
    use_agent = fields.Boolean(load_default=False, metadata={"description": "ask ssh-agent"})
    known_hosts = fields.String(
        load_default="~/.ssh/known_hosts",
        validate=validate.Length(min=1),
        metadata={"description": "OpenSSH known_hosts file the host keys are checked with"},
    )
    strict_host_key_checking = fields.Boolean(
        load_default=True,
        metadata={"description": "false accepts an unknown key (a changed one never)"},
    )
    root = fields.String(
        load_default=".",
        validate=validate.Length(min=1),
        metadata={"description": "the remote folder served ('.': the login folder)"},
    )
    jump_host = fields.Nested(JumpHostOptions, load_default=None)
    connect_timeout = fields.Float(load_default=10.0, validate=_SECONDS)
    operation_timeout = fields.Float(
        load_default=30.0,
        validate=_SECONDS,
        metadata={"description": "seconds each SFTP request may take"},
    )

    @ma.validates_schema(skip_on_field_errors=False)
    def _a_key_to_log_in_with(self, data: dict[str, Any], **kwargs: Any) -> None:
        _key_needed(data)

    @ma.post_load
    def _complete(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        data["known_hosts"] = os.path.expanduser(data["known_hosts"])
        jump = data["jump_host"]
        if jump is not None:
            # like ssh -J with one identity: the jump host takes the source's login
            # unless it names its own
            for name in ("username", "key_file", "key_passphrase", "use_agent"):
                if jump[name] is None:
                    jump[name] = data[name]
            if jump["key_file"] is None and not jump["use_agent"]:
                raise ma.ValidationError({"jump_host": {"key_file": ["give a private key"]}})
        return data
