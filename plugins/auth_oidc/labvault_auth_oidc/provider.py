"""The ``oidc`` sign-in provider: authorization code flow with PKCE and a checked id_token."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import marshmallow as ma
from labvault.plugin import (
    AuthorizationCallback,
    AuthorizationRequest,
    AuthProvider,
    Host,
    Identity,
    Unauthenticated,
    Unavailable,
)

from labvault_auth_oidc.discovery import (
    Cached,
    ProviderMetadata,
    discover,
    fetch_key_set,
)
from labvault_auth_oidc.options import OpenIDOptions, admitted

# requests, Authlib and joserfc (with cryptography) are imported by a sign-in, not when
# the plugin is enabled: a CLI command or a worker that signs nobody in does without
if TYPE_CHECKING:
    from authlib.integrations.requests_client import OAuth2Session
    from joserfc.jwk import KeySet


class OpenIDProvider(AuthProvider):
    """Sign-in with an OpenID Connect provider found from its issuer URL.

    The browser goes to the provider's authorization endpoint with state, nonce and a
    PKCE S256 challenge; the callback's code is exchanged at the token endpoint, and the
    id_token that comes back is checked (signature, issuer, audience, nonce, expiry)
    before its claims become the :class:`~labvault.plugin.Identity`.
    """

    name = "oidc"
    display_name = "OpenID Connect"
    description = "Sign in with an OpenID Connect provider (authorization code flow, PKCE)"
    OptionsSchema: ClassVar[type[ma.Schema]] = OpenIDOptions

    def __init__(self, instance_name: str, options: Mapping[str, Any], host: Host) -> None:
        super().__init__(instance_name, options, host)
        self._metadata: Cached[ProviderMetadata] = Cached(
            lambda: discover(self.issuer, self.timeout)
        )
        self._key_set: Cached[KeySet] = Cached(
            lambda: fetch_key_set(self._metadata.get().jwks_uri, self.issuer, self.timeout)
        )

    @property
    def issuer(self) -> str:
        return str(self.options["issuer"])

    @property
    def timeout(self) -> float:
        return float(self.options["timeout"])

    def _client(self, redirect_uri: str, metadata: ProviderMetadata) -> OAuth2Session:
        from authlib.integrations.requests_client import OAuth2Session

        secret = self.options.get("client_secret")
        return OAuth2Session(
            self.options["client_id"],
            secret,
            token_endpoint_auth_method=metadata.client_auth_method(bool(secret)),
            scope=" ".join(self.options["scopes"]),
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
        )

    def authorization_url(self, request: AuthorizationRequest) -> str:
        metadata = self._metadata.get()
        with self._client(request.redirect_uri, metadata) as client:
            url, _ = client.create_authorization_url(
                metadata.authorization_endpoint,
                state=request.state,
                nonce=request.nonce,
                code_verifier=request.code_verifier,
            )
        return str(url)

    def identity_from_callback(self, callback: AuthorizationCallback) -> Identity:
        from labvault_auth_oidc.id_token import Expected, verified_claims

        code = callback.params.get("code")
        if not code:
            raise Unauthenticated(f"{self.label} sent no sign-in code back; start again")
        metadata = self._metadata.get()
        tokens = self._exchange(code, callback, metadata)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise Unavailable(f"the sign-in provider {self.issuer} answered without an id_token")
        access_token = tokens.get("access_token")
        claims = verified_claims(
            id_token,
            lambda refresh: self._key_set.get(refresh=refresh),
            metadata.algorithms,
            Expected(
                issuer=self.issuer,
                client_id=self.options["client_id"],
                nonce=callback.nonce,
                access_token=access_token if isinstance(access_token, str) else None,
                leeway=self.options["leeway"],
            ),
            self.label,
        )
        return self.identity_from_claims(claims)

    def _exchange(
        self, code: str, callback: AuthorizationCallback, metadata: ProviderMetadata
    ) -> Mapping[str, Any]:
        """The token endpoint's answer for ``code`` (with the PKCE verifier)."""
        import requests
        from authlib.integrations.requests_client import OAuthError

        try:
            with self._client(callback.redirect_uri, metadata) as client:
                tokens: Mapping[str, Any] = client.fetch_token(
                    metadata.token_endpoint,
                    code=code,
                    code_verifier=callback.code_verifier,
                    timeout=self.timeout,
                )
                return tokens
        except OAuthError as error:
            self.host.logger.warning(
                "%s: the token endpoint of %s refused the code: %s",
                self.instance_name,
                self.issuer,
                error.error,
            )
            if error.error == "invalid_grant":
                raise Unauthenticated(
                    f"{self.label}: the provider refused the sign-in code; start again"
                ) from None
            raise Unavailable(
                f"the sign-in provider {self.issuer} refused labvault's token request "
                f"({str(error.error)[:60]}); ask an admin to check the client configuration"
            ) from None
        except requests.HTTPError as error:
            status = error.response.status_code if error.response is not None else "?"
            raise Unavailable(
                f"the sign-in provider {self.issuer} answered the token request with HTTP {status}"
            ) from None
        except requests.RequestException as error:
            raise Unavailable(
                f"the sign-in provider {self.issuer} cannot be reached ({type(error).__name__}); "
                "try again later"
            ) from None
        except ValueError:  # a body that is not a JSON object
            raise Unavailable(
                f"the sign-in provider {self.issuer} answered the token request with garbage"
            ) from None

    def identity_from_claims(self, claims: Mapping[str, Any]) -> Identity:
        """Who the checked claims say signed in, read through the ``*_claim`` options."""
        subject = claims.get(self.options["subject_claim"])
        if isinstance(subject, int) and not isinstance(subject, bool):
            subject = str(subject)
        if not isinstance(subject, str) or not subject:
            raise Unavailable(
                f"the id_token of {self.issuer} has no '{self.options['subject_claim']}' claim "
                "to identify you by; ask an admin to check the subject_claim option"
            )
        email = claims.get(self.options["email_claim"])
        verified = claims.get(self.options["email_verified_claim"])
        return Identity(
            provider=self.instance_name,
            subject=subject,
            email=email if isinstance(email, str) and email else None,
            # some providers send the string "true"; anything else is unverified
            email_verified=verified is True or verified == "true",
            display_name=self._display_name(claims),
        )

    def _display_name(self, claims: Mapping[str, Any]) -> str:
        name = claims.get(self.options["name_claim"])
        if isinstance(name, str) and name.strip():
            return name.strip()
        parts = (claims.get("given_name"), claims.get("family_name"))
        return " ".join(part.strip() for part in parts if isinstance(part, str) and part.strip())

    def admits(self, identity: Identity) -> bool:
        return admitted(identity, self.allow_list() or ())
