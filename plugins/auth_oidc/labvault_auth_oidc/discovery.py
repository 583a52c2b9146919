"""What an OpenID provider publishes about itself: its discovery document and its keys.

Both are fetched when first needed and kept in memory (per provider instance, per worker
process) for an hour, so a sign-in costs no extra round trips; a failed fetch is not kept,
so the next sign-in tries again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from labvault.plugin import Unavailable

from labvault_auth_oidc.options import usable_url

if TYPE_CHECKING:  # requests and joserfc are imported by the first fetch
    from joserfc.jwk import KeySet

#: How long a fetched discovery document or key set is used before it is fetched again.
CACHE_LIFETIME = 3600.0
#: Signature algorithms this client can check (asymmetric only: an HS256 id_token would
#: be keyed with the client secret, which a public client does not have).
SUPPORTED_ALGORITHMS = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
)  # fmt: skip

T = TypeVar("T")


@dataclass(frozen=True)
class ProviderMetadata:
    """The parts of a discovery document (OpenID Connect Discovery 1.0) a sign-in uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    #: Signature algorithms of id_tokens that the provider uses and this client checks.
    algorithms: tuple[str, ...]
    token_endpoint_auth_methods: tuple[str, ...]

    def client_auth_method(self, has_secret: bool) -> str:
        """How to authenticate at the token endpoint: Basic unless only POST is offered
        (ORCID), ``none`` for a public client."""
        if not has_secret:
            return "none"
        if "client_secret_basic" in self.token_endpoint_auth_methods:
            return "client_secret_basic"
        if "client_secret_post" in self.token_endpoint_auth_methods:
            return "client_secret_post"
        return "client_secret_basic"


class Cached(Generic[T]):
    """One value fetched on demand and kept for ``lifetime`` seconds; thread-safe."""

    def __init__(self, fetch: Callable[[], T], lifetime: float = CACHE_LIFETIME) -> None:
        self._fetch = fetch
        self._lifetime = lifetime
        self._lock = threading.Lock()
        self._value: T | None = None
        self._fetched_at = 0.0

    def get(self, *, refresh: bool = False) -> T:
        with self._lock:
            stale = time.monotonic() - self._fetched_at > self._lifetime
            if self._value is None or stale or refresh:
                self._value = self._fetch()
                self._fetched_at = time.monotonic()
            return self._value


def fetch_json(url: str, issuer: str, what: str, timeout: float) -> dict[str, Any]:
    """GET a JSON object, or Unavailable naming the issuer (never the answer's content)."""
    import requests

    try:
        answer = requests.get(url, timeout=timeout, headers={"Accept": "application/json"})
    except requests.RequestException as error:
        raise Unavailable(
            f"the sign-in provider {issuer} cannot be reached ({type(error).__name__}); "
            "try again later"
        ) from None
    if answer.status_code != 200:
        raise Unavailable(
            f"the sign-in provider {issuer} answered HTTP {answer.status_code} for its {what}"
        )
    try:
        document = answer.json()
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise Unavailable(f"the sign-in provider {issuer} sent a {what} that is not JSON")
    return document


def _endpoint(document: dict[str, Any], name: str, issuer: str) -> str:
    url = document.get(name)
    if not isinstance(url, str) or not usable_url(url):
        raise Unavailable(
            f"the discovery document of {issuer} has no usable {name} (https is required)"
        )
    return url


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(item for item in value if isinstance(item, str)) if isinstance(value, list) else ()


def discover(issuer: str, timeout: float) -> ProviderMetadata:
    """Fetch ``{issuer}/.well-known/openid-configuration`` and check it is the issuer's."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    document = fetch_json(url, issuer, "discovery document", timeout)
    if document.get("issuer") != issuer:
        # OpenID Connect Discovery 1.0, section 4.3: a document naming another issuer
        # must not be used (it may be an impostor's, or the configured URL is wrong)
        raise Unavailable(
            f"the discovery document at {url} names another issuer than {issuer}; "
            "check the issuer option"
        )
    announced = _strings(document.get("id_token_signing_alg_values_supported")) or ("RS256",)
    algorithms = tuple(alg for alg in announced if alg in SUPPORTED_ALGORITHMS)
    if not algorithms:
        raise Unavailable(
            f"{issuer} signs id_tokens only with algorithms labvault does not check "
            f"({', '.join(announced)[:100]})"
        )
    methods = _strings(document.get("token_endpoint_auth_methods_supported"))
    return ProviderMetadata(
        issuer=issuer,
        authorization_endpoint=_endpoint(document, "authorization_endpoint", issuer),
        token_endpoint=_endpoint(document, "token_endpoint", issuer),
        jwks_uri=_endpoint(document, "jwks_uri", issuer),
        algorithms=algorithms,
        token_endpoint_auth_methods=methods or ("client_secret_basic",),
    )


def fetch_key_set(jwks_uri: str, issuer: str, timeout: float) -> KeySet:
    """The provider's public keys (its JWK set)."""
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    document = fetch_json(jwks_uri, issuer, "key set", timeout)
    try:
        return KeySet.import_key_set(document)  # type: ignore[arg-type]
    except (JoseError, KeyError, TypeError, ValueError):
        raise Unavailable(f"the key set of {issuer} holds no usable key") from None
