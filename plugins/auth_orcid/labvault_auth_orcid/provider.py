"""The ``orcid`` sign-in provider: OpenID Connect with ORCID's issuer and ORCID iDs."""

from __future__ import annotations

import re
from typing import Any

import marshmallow as ma
from labvault.plugin import Secret
from labvault_auth_oidc import OpenIDProvider, load_options
from marshmallow import fields, validate

PRODUCTION_ISSUER = "https://orcid.org"
SANDBOX_ISSUER = "https://sandbox.orcid.org"
_ORCID_ID_FORM = re.compile(r"^\d{4}-\d{4}-\d{4}-\d{3}[\dX]$")


def check_digit(base_digits: str) -> str:
    """The ISO 7064 MOD 11-2 check character of an ORCID iD's first 15 digits."""
    total = 0
    for digit in base_digits:
        total = (total + int(digit)) * 2
    result = (12 - total % 11) % 11
    return "X" if result == 10 else str(result)


def is_orcid_id(value: str) -> bool:
    """Whether ``value`` is an ORCID iD: ``0000-0002-1825-0097``, its check digit right."""
    if not _ORCID_ID_FORM.match(value):
        return False
    digits = value.replace("-", "")
    return check_digit(digits[:15]) == digits[15]


def _check_orcid_id(value: str) -> None:
    if not is_orcid_id(value):
        raise ma.ValidationError(
            f"{value!r} is not an ORCID iD (0000-0000-0000-000X, with a valid check digit)"
        )


class OrcidOptions(ma.Schema):
    """Options of an ``orcid`` instance in ``AUTH_PROVIDERS`` (README.md lists them).

    Loads as the options of the OpenID Connect provider it is: ORCID's issuer (or the
    sandbox's, or ``issuer`` when set), the ``openid`` scope and the standard claims.
    """

    class Meta:
        unknown = ma.RAISE

    client_id = fields.String(required=True, validate=validate.Length(min=1, max=500))
    client_secret = Secret(required=True)
    sandbox = fields.Boolean(load_default=False)
    issuer = fields.String(load_default=None)  # checked by the OpenID Connect options
    allow_list = fields.List(
        fields.String(validate=_check_orcid_id), load_default=None, allow_none=True
    )
    display_name = fields.String(load_default=None, validate=validate.Length(min=1, max=100))

    @ma.post_load
    def as_openid_options(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        sandbox = data.pop("sandbox")
        issuer = data.pop("issuer") or (SANDBOX_ISSUER if sandbox else PRODUCTION_ISSUER)
        options = {key: value for key, value in data.items() if value is not None}
        try:
            return load_options({**options, "issuer": issuer, "scopes": ["openid"]})
        except ma.ValidationError as error:
            # only the issuer can fail here: the other options passed this schema
            raise ma.ValidationError(error.normalized_messages()) from None


class OrcidProvider(OpenIDProvider):
    """Sign-in with ORCID (https://orcid.org): the subject is the person's ORCID iD.

    ORCID's id_token carries ``given_name`` and ``family_name`` and, usually, no email;
    its token endpoint takes the client secret in the request body, which discovery
    announces.
    """

    name = "orcid"
    display_name = "ORCID"
    description = "Sign in with ORCID (OpenID Connect); the subject is the ORCID iD"
    OptionsSchema = OrcidOptions

    def person_identifier(self, subject: str) -> str | None:
        """The ORCID iD as its URI under the issuer (``https://orcid.org/<iD>``, or the
        sandbox's)."""
        return f"{str(self.options['issuer']).rstrip('/')}/{subject}"
