"""The options of an email-link instance (``AUTH_PROVIDERS = {"mail": {"type": "email", ...}}``)."""

from __future__ import annotations

import os
import re
from email.utils import parseaddr
from typing import Any

import marshmallow as ma
from labvault.plugin import Secret, normalize_email_domain
from marshmallow import fields, validate

SECURITY_MODES = ("starttls", "ssl", "none")

# one or more DNS labels; an entry names a domain, never an address or a pattern
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9-]{1,63}$")


def domain_of(address: str) -> str:
    """The domain part of an address in normal form (it is one: see ``identity``)."""
    return address.rpartition("@")[2]


def domain_admitted(domain: str, listed: list[str]) -> bool:
    """Whether ``domain`` is one of ``listed`` or a subdomain of one: "example.org"
    admits "chem.example.org" but never "evilexample.org"."""
    return any(domain == entry or domain.endswith("." + entry) for entry in listed)


def _one_line(value: str) -> bool:
    # a header value with a line break would let a deployer's typo inject headers
    return "\r" not in value and "\n" not in value


def _mail_address(value: str) -> bool:
    return _one_line(value) and "@" in parseaddr(value)[1]


class Domain(fields.String):
    """A domain name of the allow list, kept as addresses are (``normalize_email``)
    without a leading "@" or "."."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = normalize_email_domain(super()._deserialize(value, attr, data, **kwargs))
        text = text.lstrip("@.")
        if not _DOMAIN.match(text):
            raise ma.ValidationError(f"{value!r} is not a domain name such as example.org")
        return text


class EmailLinkOptions(ma.Schema):
    """Options of the ``email`` provider type; README.md documents each one."""

    class Meta:
        unknown = ma.RAISE

    host = fields.String(required=True, validate=validate.Length(min=1))
    port = fields.Integer(load_default=587, validate=validate.Range(min=1, max=65535))
    security = fields.String(load_default="starttls", validate=validate.OneOf(SECURITY_MODES))
    username = fields.String(load_default=None, allow_none=True)
    password = Secret(load_default=None, allow_none=True)
    sender = fields.String(required=True)
    timeout = fields.Float(load_default=10.0, validate=validate.Range(min=0.1, max=300))
    ca_file = fields.String(load_default=None, allow_none=True)
    domain_allow_list = fields.List(Domain(), load_default=None, allow_none=True)
    link_lifetime = fields.Integer(load_default=60, validate=validate.Range(min=1, max=10080))
    mails_per_address_and_client = fields.Integer(load_default=5, validate=validate.Range(min=1))
    mails_per_address = fields.Integer(load_default=20, validate=validate.Range(min=1))
    requests_per_ip = fields.Integer(load_default=60, validate=validate.Range(min=1))
    subject = fields.String(
        load_default="Your labvault sign-in link",
        validate=[validate.Length(min=1, max=200), validate.Predicate("isprintable")],
    )
    display_name = fields.String(load_default="Email", validate=validate.Length(min=1, max=100))

    @ma.validates("sender")
    def _check_sender(self, value: str, **kwargs: Any) -> None:
        if not _mail_address(value):
            raise ma.ValidationError("must be an address, e.g. 'labvault <noreply@example.org>'")

    @ma.validates("ca_file")
    def _check_ca_file(self, value: str | None, **kwargs: Any) -> None:
        if value is not None and not os.path.isfile(value):
            raise ma.ValidationError(f"no file at {value}")

    @ma.validates_schema
    def _check_credentials(self, data: dict[str, Any], **kwargs: Any) -> None:
        if (data.get("username") is None) != (data.get("password") is None):
            raise ma.ValidationError("set both username and password, or neither", "username")
