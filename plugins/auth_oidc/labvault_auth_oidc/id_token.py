"""Checking an id_token: its signature (joserfc), then its claims (Authlib's CodeIDToken).

Every failure becomes :class:`~labvault.plugin.Unauthenticated` saying, in general words,
which check failed; no message carries anything of the token itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
    UnsupportedAlgorithmError,
)
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from labvault.plugin import Unauthenticated

#: What each failed claim check means to the person signing in.
_CLAIM_PROBLEMS = {
    "iss": "it was issued by another provider",
    "aud": "it was issued to another application",
    "azp": "it was issued to another application",
    "nonce": "it belongs to another sign-in",
    "iat": "it was issued in the future (are the clocks right?)",
    "nbf": "it is not valid yet (are the clocks right?)",
    "exp": "it has expired",
    "at_hash": "it does not belong to the access token it came with",
}


@dataclass(frozen=True)
class Expected:
    """What the id_token of one sign-in must say."""

    issuer: str
    client_id: str
    nonce: str
    access_token: str | None
    leeway: int


class IdTokenRejected(Unauthenticated):
    """An id_token failed a check (401); the message says which, in general words."""


def _rejected(label: str, problem: str) -> IdTokenRejected:
    return IdTokenRejected(f"{label} sign-in was refused: its id_token {problem}; start again")


def _signed_claims(
    id_token: str, keys: Callable[[bool], KeySet], algorithms: tuple[str, ...], label: str
) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    registry = JWSRegistry(algorithms=list(algorithms))
    try:
        try:
            token = jwt.decode(id_token, keys(False), registry=registry)
        except InvalidKeyIdError:
            # the provider may have rotated its keys since they were fetched: fetch once more
            token = jwt.decode(id_token, keys(True), registry=registry)
    except InvalidKeyIdError:
        raise _rejected(label, "is signed with a key the provider does not publish") from None
    except BadSignatureError:
        raise _rejected(label, "has a signature that does not match the provider's keys") from None
    except UnsupportedAlgorithmError:
        raise _rejected(label, "is signed with an algorithm the provider does not use") from None
    except (JoseError, ValueError, KeyError, TypeError):
        raise _rejected(label, "is not a well-formed signed token") from None
    return token.claims, token.header


def verified_claims(
    id_token: str,
    keys: Callable[[bool], KeySet],
    algorithms: tuple[str, ...],
    expected: Expected,
    label: str,
) -> Mapping[str, Any]:
    """The claims of ``id_token`` once its signature (with ``keys(refresh)``), issuer,
    audience, nonce and times are checked (OpenID Connect Core 1.0, 3.1.3.7)."""
    claims, header = _signed_claims(id_token, keys, algorithms, label)
    checked = CodeIDToken(
        dict(claims),
        dict(header),
        {
            "iss": {"essential": True, "value": expected.issuer},
            "aud": {"essential": True, "value": expected.client_id},
        },
        {
            "nonce": expected.nonce,
            "client_id": expected.client_id,
            "access_token": expected.access_token,
        },
    )
    try:
        checked.validate(leeway=expected.leeway)
    except ExpiredTokenError:
        raise _rejected(label, _CLAIM_PROBLEMS["exp"]) from None
    except ClaimError as error:
        claim = error.claim.split(",")[0]
        if error.error == "missing_claim" and claim != "nonce":
            problem = f"lacks the '{error.claim}' claim"
        else:
            problem = _CLAIM_PROBLEMS.get(claim, f"has a wrong '{claim}' claim")
        raise _rejected(label, problem) from None
    except (JoseError, ValueError, TypeError):
        raise _rejected(label, "has claims that cannot be checked") from None
    return claims
