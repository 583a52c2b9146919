"""JWT access tokens: issued and verified by the server alone.

The verifier pins the one configured algorithm, requires every claim and checks each of
them, so ``alg: none``, a token signed with another key or algorithm, a tampered,
expired or not-yet-valid token, or one issued for another server is refused.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labvault.errors import ConfigError

if TYPE_CHECKING:
    import jwt

# PyJWT (and the cryptography it imports) is imported by the first token signed or
# verified, or by an RS256/ES256 key pair read: a CLI command that handles no token
# does without it.

AUDIENCE = "labvault-api"
#: ``sid`` is the session the token belongs to (its refresh-token family): a token of a
#: session that was signed out or revoked is refused (labvault.auth.service).
REQUIRED_CLAIMS = ("sub", "sid", "iat", "nbf", "exp", "jti", "iss", "aud")
#: Tolerated clock difference between servers behind one load balancer.
LEEWAY = dt.timedelta(seconds=5)
_LEEWAY_SECONDS = LEEWAY.total_seconds()
#: Verified tokens a signer remembers (per process): a client sends its token with every
#: request, and checking the signature and claims again costs more than reading the row.
VERIFIED_TOKENS = 4096
#: The ``sub`` the server issues: a user id in canonical ASCII decimal. ``str.isdigit``
#: would let "²" or "0001" through, and an id beyond the 32-bit ``users.id`` column makes
#: the lookup fail with a database error (a 500) instead of a 401.
_USER_ID = re.compile(r"[1-9][0-9]{0,9}")
_MAX_USER_ID = 2**31 - 1
#: The ``sid`` the server issues: a session id, 32 lowercase hex digits.
SESSION_ID = re.compile(r"[0-9a-f]{32}")


class InvalidToken(Exception):
    """The bearer token cannot be accepted; the message says why, for the 401 body."""


_MESSAGES = [
    ("ExpiredSignatureError", "token has expired"),
    ("ImmatureSignatureError", "token is not valid yet"),
    ("InvalidAudienceError", "token was not issued for this API"),
    ("InvalidIssuerError", "token was not issued by this server"),
    ("InvalidAlgorithmError", "token algorithm is not allowed"),
    ("InvalidSignatureError", "token signature is invalid"),
    ("DecodeError", "token is malformed"),
]


def _explain(exc: jwt.InvalidTokenError) -> str:
    import jwt

    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"token lacks the {exc.claim!r} claim"
    for exc_type, message in _MESSAGES:
        if isinstance(exc, getattr(jwt, exc_type)):
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
        session_lifetime: dt.timedelta,
    ) -> None:
        self.algorithm = algorithm
        self._signing_key = signing_key
        self._verifying_key = verifying_key
        self.issuer = issuer
        #: Lifetime of one access token.
        self.lifetime = lifetime
        #: How long a sign-in (its refresh-token family) lasts, however often rotated.
        self.session_lifetime = session_lifetime
        #: token -> (claims, nbf/iat, exp) of tokens verified already; see :meth:`verify`.
        self._verified: dict[str, tuple[dict[str, Any], int, int]] = {}
        self._verified_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> TokenSigner:
        algorithm = settings["JWT_ALGORITHM"]
        if algorithm == "HS256":
            signing = verifying = settings["SECRET_KEY"]
        else:
            signing, verifying = _load_key_pair(algorithm, settings)
        return cls(
            algorithm=algorithm,
            signing_key=signing,
            verifying_key=verifying,
            issuer=settings["JWT_ISSUER"],
            lifetime=dt.timedelta(minutes=settings["ACCESS_TOKEN_LIFETIME"]),
            session_lifetime=dt.timedelta(hours=settings["SESSION_LIFETIME"]),
        )

    def issue(self, user_id: int, session_id: str, lifetime: dt.timedelta | None = None) -> str:
        """An access token of ``user_id`` in the session ``session_id`` (its refresh-token
        family), valid for ``lifetime`` (default: ACCESS_TOKEN_LIFETIME)."""
        now = dt.datetime.now(dt.UTC)
        claims = {
            "sub": str(user_id),
            "sid": session_id,
            "iat": now,
            "nbf": now,
            "exp": now + (lifetime or self.lifetime),
            "jti": uuid.uuid4().hex,
            "iss": self.issuer,
            "aud": AUDIENCE,
        }
        import jwt

        return jwt.encode(claims, self._signing_key, algorithm=self.algorithm)

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or :class:`InvalidToken` saying what is wrong.

        A token verified before is not verified again while the clock says its claims
        still hold, as PyJWT would judge them (``nbf``/``iat`` reached and ``exp`` not
        passed, with :data:`LEEWAY`); once they do not, it is verified in full again, so
        the answer and its reason are the same as without the memory. Only the token is
        remembered: whether its session was revoked and its user is still active is read
        on every request (labvault.auth.service).
        """
        remembered = self._verified.get(token)
        if remembered is not None:
            claims, not_before, expires = remembered
            now = time.time()
            if not_before <= now + _LEEWAY_SECONDS and expires > now - _LEEWAY_SECONDS:
                return dict(claims)
            with self._verified_lock:  # expired (or the clock went back): verify in full
                self._verified.pop(token, None)
        claims = self._verify(token)
        self._remember(token, claims)
        return dict(claims)

    def _remember(self, token: str, claims: dict[str, Any]) -> None:
        """Keep a verified token, forgetting the oldest beyond :data:`VERIFIED_TOKENS`."""
        # verified claims are integers (PyJWT checks them the same way)
        not_before, expires = max(int(claims["nbf"]), int(claims["iat"])), int(claims["exp"])
        with self._verified_lock:
            while len(self._verified) >= VERIFIED_TOKENS:
                del self._verified[next(iter(self._verified))]
            self._verified[token] = (claims, not_before, expires)

    def _verify(self, token: str) -> dict[str, Any]:
        import jwt

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
        subject = claims["sub"]
        if (
            not isinstance(subject, str)
            or not _USER_ID.fullmatch(subject)
            or int(subject) > _MAX_USER_ID
        ):
            raise InvalidToken("token subject is not a user")
        session_id = claims["sid"]
        if not isinstance(session_id, str) or not SESSION_ID.fullmatch(session_id):
            raise InvalidToken("token session is not a session")
        return claims


def _read_key(path: str, setting: str) -> bytes:
    try:
        key = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError([f"{setting}: cannot read {path}: {exc.strerror}"]) from None
    if b"PRIVATE KEY" not in key and b"PUBLIC KEY" not in key:
        raise ConfigError([f"{setting}: {path} is not a PEM key"])
    return key


_KEY_KINDS = {"RS256": "an RSA key", "ES256": "an EC key on the P-256 curve"}


def _load_key_pair(algorithm: str, settings: Mapping[str, Any]) -> tuple[Any, Any]:
    """The parsed key objects of an RS256/ES256 key pair, checked to belong together.

    Parsed once here: handing PEM bytes to PyJWT would parse (and, for RSA, check) the
    private key again for every token, tens of milliseconds each time.
    """
    import jwt

    impl = jwt.get_algorithm_by_name(algorithm)
    keys = []
    for setting in ("JWT_PRIVATE_KEY_FILE", "JWT_PUBLIC_KEY_FILE"):
        path = settings[setting]
        try:
            keys.append(impl.prepare_key(_read_key(path, setting)))
        except (jwt.InvalidKeyError, ValueError):
            kind = _KEY_KINDS[algorithm]
            raise ConfigError([f"{setting}: {path} is not {kind}, as {algorithm} needs"]) from None
    signing, verifying = keys
    if not hasattr(signing, "sign"):
        raise ConfigError(
            [f"JWT_PRIVATE_KEY_FILE: {settings['JWT_PRIVATE_KEY_FILE']} holds no private key"]
        )
    if not hasattr(verifying, "verify"):  # the public file may be shared; keep it public
        raise ConfigError(
            [f"JWT_PUBLIC_KEY_FILE: {settings['JWT_PUBLIC_KEY_FILE']} holds a private key"]
        )
    try:
        matches = impl.verify(b"labvault", verifying, impl.sign(b"labvault", signing))
    except (jwt.InvalidKeyError, ValueError):
        matches = False
    if not matches:
        public = settings["JWT_PUBLIC_KEY_FILE"]
        raise ConfigError(
            [f"JWT_PUBLIC_KEY_FILE: {public} is not the public key of JWT_PRIVATE_KEY_FILE"]
        )
    return signing, verifying
