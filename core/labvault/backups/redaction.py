"""The settings as a snapshot keeps them: the deployer's config without its secrets.

Three nets, each catching what the one before may miss: every option a schema declares
with :class:`labvault.plugin.Secret` (wherever it is nested: a ``Nested`` schema, a
``List``, a ``Tuple`` or a ``Dict`` of them) is hidden, given the schema each part of
the settings is read with; every URL loses its password (``user:***@``) and the values
of password-like query parameters (``?password=``, ``sslpassword=``, ``token=``,
``sig=``, ...); and a conservative list of names hides what no schema declares (an
undeclared ``apikey``, ``pwd`` or ``webhook_url``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import marshmallow as ma

from labvault.plugin import Secret, SecretValue

HIDDEN = "[hidden]"
#: Names of settings, options and URL query parameters whose values are hidden.
SECRET_NAME = re.compile(
    r"secret|passw|pwd|passphrase|token|credential|private|api_?key|access_?key|webhook"
    r"|cookie|signature|salt|dsn|(^|_)sig$|(^|_)pass$|(^|_)key(_id)?$",
    re.IGNORECASE,
)

#: Where in the settings a schema reads options: (("AUTH_PROVIDERS", "uni"), schema).
Schemas = Iterable[tuple[tuple[str, ...], ma.Schema]]


def public_config(settings: Mapping[str, Any], schemas: Schemas = ()) -> dict[str, Any]:
    """``settings`` with every secret hidden; ``schemas`` say where options are read with
    which schema (see :meth:`labvault.registry.Registry.settings_schemas`)."""
    declared: Any = settings
    for path, schema in schemas:
        declared = _at(declared, path, lambda options, schema=schema: _declared(options, schema))
    return {str(name): _clean(str(name), value) for name, value in declared.items()}


def _at(tree: Any, path: tuple[str, ...], change: Any) -> Any:
    """``tree`` with ``change`` applied to what is at ``path`` (copied on the way)."""
    if not path:
        return change(tree)
    if not isinstance(tree, Mapping) or path[0] not in tree:
        return tree
    return {**tree, path[0]: _at(tree[path[0]], path[1:], change)}


def _declared(options: Any, schema: ma.Schema) -> Any:
    """``options`` with the values of the schema's Secret fields hidden."""
    if not isinstance(options, Mapping):
        return options
    hidden = dict(options)
    for name, field in schema.fields.items():
        key = field.data_key or name
        if key in hidden:
            hidden[key] = _field(hidden[key], field)
    return hidden


def _field(value: Any, field: ma.fields.Field) -> Any:
    if isinstance(field, Secret):
        return HIDDEN if value else value
    if isinstance(field, ma.fields.Nested):
        if isinstance(value, list):
            return [_declared(each, field.schema) for each in value]
        return _declared(value, field.schema)
    if isinstance(field, ma.fields.List) and isinstance(value, list):
        return [_field(each, field.inner) for each in value]
    if isinstance(field, ma.fields.Tuple) and isinstance(value, list | tuple):
        inner = [_field(each, f) for each, f in zip(value, field.tuple_fields, strict=False)]
        return inner + list(value[len(inner) :])
    if isinstance(field, ma.fields.Dict) and field.value_field and isinstance(value, Mapping):
        return {key: _field(each, field.value_field) for key, each in value.items()}
    return value


def _clean(name: str, value: Any) -> Any:
    """``value`` (of a setting or option called ``name``) as JSON, secrets hidden."""
    if isinstance(value, SecretValue) or (
        SECRET_NAME.search(name) and isinstance(value, str | bytes | Mapping)
    ):
        return HIDDEN if value else value
    if isinstance(value, Mapping):
        return {str(key): _clean(str(key), each) for key, each in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(name, each) for each in value]
    if isinstance(value, str):
        return without_passwords(value)
    if isinstance(value, int | float | bool) or value is None:
        return value
    return without_passwords(str(value))


def without_passwords(text: str) -> str:
    """``text`` with the password of a URL in it, and its password-like query (or
    fragment) parameters, replaced by ``***``; a URL that cannot be parsed is hidden."""
    if "://" not in text:
        return text
    try:
        parts = urlsplit(text)
        password = parts.password
    except ValueError:
        return HIDDEN
    if password is not None:
        userinfo, _, host = parts.netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        text = text.replace(parts.netloc, f"{user}:***@{host}", 1)
    for separator, params in (("?", parts.query), ("#", parts.fragment)):
        if params:
            text = text.replace(separator + params, separator + _hidden_params(params), 1)
    return text


def _hidden_params(text: str) -> str:
    pairs = parse_qsl(text, keep_blank_values=True)
    if not any(SECRET_NAME.search(name) for name, _ in pairs):
        return text
    return urlencode(
        [(name, "***" if SECRET_NAME.search(name) else value) for name, value in pairs], safe="*"
    )
