"""Redirect sign-in flows: where a login goes, and what its callback must bring back.

The flow's state, the OpenID Connect nonce and the PKCE verifier are one single-use
ticket in the database (valid 10 minutes), so a flow started on one worker may end on
another, and a replayed callback finds its state spent.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from labvault.auth.tickets import issue_ticket, spend_ticket
from labvault.auth.tokens import TokenSigner
from labvault.errors import DomainError, Forbidden, Unavailable
from labvault.plugin import (
    AuthorizationCallback,
    AuthorizationRequest,
    AuthProvider,
    Identity,
    SessionTokens,
)
from labvault.signin import service
from labvault.signin.urls import check_next_url

LOGIN_PURPOSE = "login"
LOGIN_LIFETIME = dt.timedelta(minutes=10)


class BadCallback(DomainError):
    """A callback whose state is unknown, expired, spent or of another provider (400)."""

    status = 400


def start_login(
    session: Session,
    provider: AuthProvider,
    *,
    redirect_uri: str,
    next_url: str | None,
    link_user_id: int | None,
) -> str:
    """Keep the flow's state and return the provider's authorization URL."""
    nonce = secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(48)  # 64 characters (RFC 7636: 43 to 128)
    data = {
        "provider": provider.instance_name,
        "redirect_uri": redirect_uri,
        "nonce": nonce,
        "code_verifier": verifier,
        "next": next_url,
        "link_user_id": link_user_id,
    }
    state = issue_ticket(session, LOGIN_PURPOSE, data, LOGIN_LIFETIME)
    return provider.authorization_url(AuthorizationRequest(redirect_uri, state, nonce, verifier))


def _checked(identity: Any, provider: AuthProvider) -> Identity:
    if not isinstance(identity, Identity) or identity.provider != provider.instance_name:
        raise Unavailable(f"{provider.label} returned no identity of this provider")
    if not identity.subject or len(identity.subject) > 255:
        raise Unavailable(f"{provider.label} returned an unusable subject")
    return identity


def finish_login(
    session: Session,
    signer: TokenSigner,
    provider: AuthProvider,
    params: Mapping[str, str],
    allowed_origins: Sequence[str],
) -> tuple[SessionTokens, str | None]:
    """Check a callback, apply the rules, start the session: (tokens, next URL)."""
    flow = spend_ticket(session, LOGIN_PURPOSE, params.get("state", ""))
    if flow is None or flow["provider"] != provider.instance_name:
        raise BadCallback(
            "this sign-in is unknown, expired (after 10 minutes) or already finished; start again"
        )
    # a flow may have been kept before a check existed, or ALLOWED_REDIRECT_ORIGINS changed
    next_url = check_next_url(flow["next"], allowed_origins)
    if "error" in params:
        reason = params.get("error_description") or params["error"]
        raise Forbidden(f"{provider.label} did not sign you in: {reason[:200]}")
    callback = AuthorizationCallback(
        dict(params), flow["redirect_uri"], flow["nonce"], flow["code_verifier"]
    )
    identity = _checked(provider.identity_from_callback(callback), provider)
    tokens = service.sign_in(session, signer, provider, identity, link_user_id=flow["link_user_id"])
    return tokens, next_url
