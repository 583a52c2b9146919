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
from urllib.parse import urlsplit

from flask import request
from sqlalchemy.orm import Session

from labvault.auth.tickets import issue_ticket, spend_ticket
from labvault.auth.tokens import TokenSigner
from labvault.errors import DomainError, Forbidden, Invalid, Unavailable
from labvault.plugin import (
    AuthorizationCallback,
    AuthorizationRequest,
    AuthProvider,
    Identity,
    SessionTokens,
)
from labvault.signin import service

LOGIN_PURPOSE = "login"
LOGIN_LIFETIME = dt.timedelta(minutes=10)
_DEFAULT_PORTS = {"http": 80, "https": 443}


class BadCallback(DomainError):
    """A callback whose state is unknown, expired, spent or of another provider (400)."""

    status = 400


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an absolute http(s) URL (default port left out)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or "@" in parts.netloc:
        return None
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    keep_port = port is not None and port != _DEFAULT_PORTS[parts.scheme]
    return f"{parts.scheme}://{host}{f':{port}' if keep_port else ''}"


def external_url(path: str, public_url: str | None) -> str:
    """The absolute URL of one of the server's paths (relative to its root): under
    ``public_url`` when set, else under the URL the current request came to."""
    base = public_url or request.url_root
    return base.rstrip("/") + "/" + path.lstrip("/")


def check_next_url(
    url: str | None, allowed_origins: Sequence[str], location: str = "query"
) -> str | None:
    """``url`` when its origin is one of ``allowed_origins``; Invalid otherwise."""
    if url is None:
        return None
    if not url.isprintable() or any(character.isspace() for character in url):
        # Python's URL parser drops line breaks, but a Location header must not hold them
        raise Invalid(
            "next must be a URL without spaces, line breaks or control characters",
            {"next": ["holds a space, a line break or another control character"]},
            location=location,
        )
    allowed = {origin_of(origin) for origin in allowed_origins}
    origin = origin_of(url)
    if origin is None or origin not in allowed:
        raise Invalid(
            "tokens are only sent to the origins in ALLOWED_REDIRECT_ORIGINS",
            {"next": [f"{url!r} is not on an allowed origin"]},
            location=location,
        )
    return url.split("#", 1)[0]


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
