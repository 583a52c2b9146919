"""JWT access tokens: issued and verified by the server alone.

The verifier pins the one configured algorithm, requires every claim and checks each of
them, so ``alg: none``, a token signed with another key or algorithm, a tampered,
expired or not-yet-valid token, or one issued for another server is refused.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jwt

from labvault.errors import ConfigError

AUDIENCE = "labvault-api"
REQUIRED_CLAIMS = ("sub", "iat", "nbf", "exp", "jti", "iss", "aud")
#: Tolerated clock difference between servers behind one load balancer.
LEEWAY = dt.timedelta(seconds=5)


class InvalidToken(Exception):
    """The bearer token cannot be accepted; the message says why, for the 401 body."""


_MESSAGES: list[tuple[type[Exception], str]] = [
    (jwt.ExpiredSignatureError, "token has expired"),
    (jwt.ImmatureSignatureError, "token is not valid yet"),
    (jwt.InvalidAudienceError, "token was not issued for this API"),
    (jwt.InvalidIssuerError, "token was not issued by this server"),
    (jwt.InvalidAlgorithmError, "token algorithm is not allowed"),
    (jwt.InvalidSignatureError, "token signature is invalid"),
    (jwt.DecodeError, "token is malformed"),
]


def _explain(exc: jwt.InvalidTokenError) -> str:
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"token lacks the {exc.claim!r} claim"
    for exc_type, message in _MESSAGES:
        if isinstance(exc, exc_type):
            return message
    return f"token is invalid: {exc}"


class TokenSigner:
    """Issues and verifies access tokens with one algorithm and key pair."""

    def __init__(
        self,
        *,
        algorithm: str,
        signing_key: Any,
        verifying_key: Any,
        issuer: str,
        lifetime: dt.timedelta,
    ) -> None:
        self.algorithm = algorithm
        self._signing_key = signing_key
        self._verifying_key = verifying_key
        self.issuer = issuer
        self.lifetime = lifetime

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> TokenSigner:
        algorithm = settings["JWT_ALGORITHM"]
        if algorithm == "HS256":
            signing = verifying = settings["SECRET_KEY"]
        else:
            signing = _read_key(settings["JWT_PRIVATE_KEY_FILE"], "JWT_PRIVATE_KEY_FILE")
            verifying = _read_key(settings["JWT_PUBLIC_KEY_FILE"], "JWT_PUBLIC_KEY_FILE")
        return cls(
            algorithm=algorithm,
            signing_key=signing,
            verifying_key=verifying,
            issuer=settings["JWT_ISSUER"],
            lifetime=dt.timedelta(minutes=settings["ACCESS_TOKEN_LIFETIME"]),
        )

    def issue(self, user_id: int, lifetime: dt.timedelta | None = None) -> str:
        now = dt.datetime.now(dt.UTC)
        claims = {
            "sub": str(user_id),
            "iat": now,
            "nbf": now,
            "exp": now + (lifetime or self.lifetime),
            "jti": uuid.uuid4().hex,
            "iss": self.issuer,
            "aud": AUDIENCE,
        }
        return jwt.encode(claims, self._signing_key, algorithm=self.algorithm)

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or :class:`InvalidToken` saying what is wrong."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._verifying_key,
                algorithms=[self.algorithm],
                audience=AUDIENCE,
                issuer=self.issuer,
                leeway=LEEWAY,
                options={"require": list(REQUIRED_CLAIMS), "strict_aud": True},
            )
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(_explain(exc)) from None
        if not str(claims["sub"]).isdigit():
            raise InvalidToken("token subject is not a user")
        return claims


def _read_key(path: str, setting: str) -> bytes:
    try:
        key = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError([f"{setting}: cannot read {path}: {exc.strerror}"]) from None
    if b"PRIVATE KEY" not in key and b"PUBLIC KEY" not in key:
        raise ConfigError([f"{setting}: {path} is not a PEM key"])
    return key
