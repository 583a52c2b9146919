"""Email addresses as labvault keeps and compares them: one normal form, whoever gives
the address (an admin, the CLI, a sign-in provider, a deployer's allow list).

The normal form is Unicode's compatibility caseless form: NFKC, case-folded, NFKC again.
Fullwidth letters become ASCII ones and case does not count ("\\uff2bATE@Example.org",
"\\u212aate@example.org" with a KELVIN SIGN and "kate@example.org" are one address);
accents do ("käte" is not "kate"). Case folding goes further than lowercasing: "ß"
becomes "ss". Addresses are stored in this form and compared as stored, character for
character (the columns holding them compare exactly on every database, see
:class:`labvault.db.ExactString`), so the same rule applies everywhere an address
is matched.
"""

from __future__ import annotations

import unicodedata

from marshmallow import ValidationError, validate

from labvault.errors import Invalid

#: The longest address kept (the ``users.email`` column; RFC 3696: 64 + 1 + 255).
MAX_EMAIL_LENGTH = 320

_valid_email = validate.Email()


class InvalidEmail(Invalid):
    """Not an email address, before or after normalizing (422)."""

    def __init__(self, address: str) -> None:
        super().__init__(f"{address!r} is not a valid email address")


def _fold(text: str) -> str:
    # Unicode's compatibility caseless match (D145), in the composed form
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold()).strip()


def normalize_email(address: str) -> str:
    """``address`` in its normal form; :class:`InvalidEmail` when that is not an email
    address (or longer than :data:`MAX_EMAIL_LENGTH`: NFKC may lengthen text)."""
    normal = _fold(address)
    try:
        _valid_email(normal)
    except ValidationError:
        raise InvalidEmail(address) from None
    if len(normal) > MAX_EMAIL_LENGTH:
        raise InvalidEmail(address)
    return normal


def normalize_email_domain(domain: str) -> str:
    """A domain name (of an allow list, say) in the form it has in a normalized address,
    so that it compares with the part after "@" of one. Not checked to be a domain."""
    return _fold(domain)
