"""The options of an OpenID Connect provider instance, and who its allow list admits."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import marshmallow as ma
from labvault.plugin import Identity, Secret, normalize_email_domain
from marshmallow import fields, validate

DEFAULT_SCOPES = ("openid", "email", "profile")

#: "@example.org": a verified email in that domain or one of its subdomains.
_DOMAIN_ENTRY = re.compile(r"^@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9-]*[a-z][a-z0-9-]*$")
_LOOPBACK_NAMES = {"localhost"}


def is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def usable_url(url: str) -> bool:
    """An https URL, or plain http to this machine (a provider run for tests or
    development): tokens and codes never cross a network unencrypted."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if not parts.hostname or parts.username or parts.password or parts.fragment:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname))


def _check_issuer(url: str) -> None:
    if not usable_url(url) or urlsplit(url).query:
        raise ma.ValidationError(
            "must be the provider's issuer URL: https://host[/path] (http only on this machine), "
            "without query or fragment"
        )


def _check_allow_list_entry(entry: str) -> None:
    if entry.startswith("@"):
        if not _DOMAIN_ENTRY.match(entry.lower()):
            raise ma.ValidationError(f"{entry!r} is not '@' followed by a domain name")
    elif not entry.strip() or entry != entry.strip():
        raise ma.ValidationError(f"{entry!r} is not a subject (an id without surrounding spaces)")


def _check_scopes(scopes: list[str]) -> None:
    if "openid" not in scopes:
        raise ma.ValidationError("must contain 'openid'")


class OpenIDOptions(ma.Schema):
    """Options of an ``oidc`` instance in ``AUTH_PROVIDERS`` (README.md lists them)."""

    class Meta:
        unknown = ma.RAISE

    issuer = fields.String(required=True, validate=_check_issuer)
    client_id = fields.String(required=True, validate=validate.Length(min=1, max=500))
    # None: a public client, which proves itself with PKCE alone
    client_secret = Secret(load_default=None)
    scopes = fields.List(
        fields.String(validate=validate.Regexp(r"^[!#-\[\]-~]+$", error="not a scope name")),
        load_default=lambda: list(DEFAULT_SCOPES),
        validate=_check_scopes,
    )
    subject_claim = fields.String(load_default="sub", validate=validate.Length(min=1))
    email_claim = fields.String(load_default="email", validate=validate.Length(min=1))
    email_verified_claim = fields.String(
        load_default="email_verified", validate=validate.Length(min=1)
    )
    name_claim = fields.String(load_default="name", validate=validate.Length(min=1))
    allow_list = fields.List(
        fields.String(validate=_check_allow_list_entry), load_default=None, allow_none=True
    )
    display_name = fields.String(load_default=None, validate=validate.Length(min=1, max=100))
    timeout = fields.Float(
        load_default=10.0, validate=validate.Range(min=0, min_inclusive=False, max=300)
    )
    leeway = fields.Integer(load_default=60, validate=validate.Range(min=0, max=600))


def _email_domain(email: str) -> str:
    return normalize_email_domain(email.rsplit("@", 1)[-1]).rstrip(".")


def admitted(identity: Identity, entries: Sequence[str]) -> bool:
    """Whether an allow list lets ``identity`` in: it names the subject, or an
    ``@domain`` entry matches the identity's VERIFIED email in that domain or below it
    (``@example.org`` admits ``a@chem.example.org``, never ``a@evilexample.org``).
    Domains compare as labvault compares addresses (``normalize_email_domain``)."""
    if identity.subject in entries:
        return True
    if not identity.email or not identity.email_verified or "@" not in identity.email:
        return False
    domain = _email_domain(identity.email)
    for entry in entries:
        if entry.startswith("@"):
            listed = normalize_email_domain(entry[1:])
            if domain == listed or domain.endswith("." + listed):
                return True
    return False


def load_options(raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` validated as an ``oidc`` instance's options, defaults filled in (for a
    provider type built on this one, such as ORCID)."""
    loaded: dict[str, Any] = OpenIDOptions().load(raw)
    return loaded
