"""Fields for the options schemas of plugins and their types."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import marshmallow as ma


class SecretValue(str):
    """A secret read from the settings: the text itself, never shown by ``repr``, so that a
    logged or printed options mapping does not give it away."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'********'"


class Secret(ma.fields.Field):
    """A secret (a password, a client secret, a key): the value itself, or
    ``{"env": "NAME"}`` to read it from the environment variable NAME when the settings
    are loaded, so that config.py need not hold it. Loads as a :class:`SecretValue`; an
    unset or empty variable is a problem of the configuration, naming it.

    Example::

        class Options(ma.Schema):
            client_secret = Secret(required=True)

        # PLUGIN_OPTIONS = {"campus": {"client_secret": {"env": "CAMPUS_CLIENT_SECRET"}}}
    """

    default_error_messages = {
        "invalid": 'a text, or {{"env": "NAME"}} to read it from an environment variable',
        "unset": "the environment variable {name} is not set",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> SecretValue:
        if isinstance(value, Mapping) and set(value) == {"env"} and isinstance(value["env"], str):
            name = value["env"]
            found = os.environ.get(name)
            if not found:
                raise self.make_error("unset", name=name)
            return SecretValue(found)
        if isinstance(value, str) and value:
            return SecretValue(value)
        raise self.make_error("invalid")

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else "********"
