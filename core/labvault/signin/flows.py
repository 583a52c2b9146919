"""Redirect sign-in flows: where a login goes, and what its callback must bring back.

The flow's state, the OpenID Connect nonce, the PKCE verifier and the fingerprint of the
browser that started it are one single-use ticket in the database (valid 10 minutes), so
a flow started on one worker may end on another, a replayed callback finds its state
spent, and a callback in another browser is refused. A browser is known by a random
nonce its cookie holds (:mod:`labvault.web.browser`); a flow keeps only its hash.

A script (or /doc) that asks for JSON gets no flow of its own, since its answer reaches
no browser: it gets a URL of this server, valid once, that starts the flow in the
browser that opens it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from labvault.auth.tickets import issue_ticket, spend_ticket
from labvault.errors import DomainError, Forbidden, Unavailable
from labvault.plugin import AuthorizationCallback, AuthorizationRequest, AuthProvider, Identity
from labvault.signin.urls import check_next_url

LOGIN_PURPOSE = "login"
#: A sign-in a script started, waiting for the browser that opens its URL.
HELD_PURPOSE = "login-held"
LOGIN_LIFETIME = dt.timedelta(minutes=10)
_NONCE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)


def new_browser_nonce() -> str:
    """A random nonce for a browser's cookie."""
    return secrets.token_urlsafe(32)


def is_browser_nonce(value: str) -> bool:
    """Whether a cookie's value is a nonce :func:`new_browser_nonce` could have made."""
    return bool(_NONCE.match(value))


def fingerprint(nonce: str) -> str:
    """What a flow keeps of a browser's nonce."""
    return hashlib.sha256(nonce.encode()).hexdigest()


def is_same_browser(held: str, expected: str | None) -> bool:
    """Whether ``held`` (what the request's cookie holds, "" without one) is the nonce
    whose fingerprint is ``expected``."""
    if not expected or not is_browser_nonce(held):
        return False
    return hmac.compare_digest(fingerprint(held), expected)


class BadCallback(DomainError):
    """A callback whose state is unknown, expired, spent, of another provider or of
    another browser (400)."""

    status = 400


ANOTHER_BROWSER = (
    "this sign-in was started in another browser (or this browser did not keep its "
    "cookie); start signing in again here"
)


def hold_login(
    session: Session, provider: AuthProvider, *, next_url: str | None, link_user_id: int | None
) -> str:
    """Keep a sign-in a script started; returns the secret of the URL that goes on."""
    flow = {"provider": provider.instance_name, "next": next_url, "link_user_id": link_user_id}
    return issue_ticket(session, HELD_PURPOSE, flow, LOGIN_LIFETIME)


def take_held_login(session: Session, provider: AuthProvider, secret: str) -> dict[str, Any]:
    """The sign-in held under ``secret``, once: a second browser cannot take it over."""
    flow = spend_ticket(session, HELD_PURPOSE, secret)
    if flow is None or flow["provider"] != provider.instance_name:
        raise BadCallback(
            "this sign-in is unknown, expired (after 10 minutes) or already opened; start again"
        )
    return flow


def start_login(
    session: Session,
    provider: AuthProvider,
    *,
    redirect_uri: str,
    next_url: str | None,
    link_user_id: int | None,
    browser: str,
) -> str:
    """Keep the flow's state, bound to ``browser`` (a :func:`fingerprint`), and return
    the provider's authorization URL."""
    nonce = secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(48)  # 64 characters (RFC 7636: 43 to 128)
    data = {
        "provider": provider.instance_name,
        "redirect_uri": redirect_uri,
        "nonce": nonce,
        "code_verifier": verifier,
        "next": next_url,
        "link_user_id": link_user_id,
        "browser": browser,
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
    provider: AuthProvider,
    params: Mapping[str, str],
    allowed_origins: Sequence[str],
    *,
    held_nonce: str,
) -> tuple[Identity, dict[str, Any]]:
    """Check a callback (its state, and that it came to the browser that started the
    flow: the one whose cookie holds ``held_nonce``) and have the provider say who signed
    in: (identity, flow), the flow's ``next`` checked again."""
    flow = spend_ticket(session, LOGIN_PURPOSE, params.get("state", ""))
    if flow is None or flow["provider"] != provider.instance_name:
        raise BadCallback(
            "this sign-in is unknown, expired (after 10 minutes) or already finished; start again"
        )
    if not is_same_browser(held_nonce, flow.get("browser")):
        raise BadCallback(ANOTHER_BROWSER)
    # a flow may have been kept before a check existed, or ALLOWED_REDIRECT_ORIGINS changed
    flow["next"] = check_next_url(flow["next"], allowed_origins)
    if "error" in params:
        reason = params.get("error_description") or params["error"]
        raise Forbidden(f"{provider.label} did not sign you in: {reason[:200]}")
    callback = AuthorizationCallback(
        dict(params), flow["redirect_uri"], flow["nonce"], flow["code_verifier"]
    )
    return _checked(provider.identity_from_callback(callback), provider), flow
