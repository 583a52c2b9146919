"""The browser a sign-in belongs to, and where the forms of sign-in pages come from.

A sign-in flow is bound to the browser that started it: the answer that sends the browser
to the provider sets a cookie holding a random nonce, and the flow keeps only the nonce's
hash. The callback (and a link's confirmation) is refused without that cookie, so a
callback URL an attacker prepared in their own browser signs nobody else in. The cookie
is HttpOnly and ``SameSite=Lax``: the provider's redirect back (a top-level GET from
another site) brings it, no other site's request does. Over https it is named
``__Host-labvault-signin`` (Secure, ``Path=/``, no Domain: no other host can set it);
over plain http (development, tests) ``labvault-signin``, without Secure. Which one
follows ``PUBLIC_URL``, the address people reach the server at. One nonce serves every
sign-in a browser starts within its lifetime, so two tabs do not undo each other.

A form posted to a sign-in route (an email link's button, a link's confirmation) must
come from this server's own pages: a request whose ``Origin`` names another site (or
``null``) is refused. A JSON body is left to CORS: a browser sends it from another site
only after asking (a preflight) and only to CORS_ORIGINS. Pages with such a form send
``Referrer-Policy: strict-origin``, since under ``no-referrer`` a browser posts the form
with ``Origin: null``.
"""

from __future__ import annotations

from collections.abc import Collection

from flask import request
from werkzeug.wrappers import Response

from labvault.errors import Forbidden
from labvault.signin import flows
from labvault.signin.urls import origin_of
from labvault.web.state import settings
from labvault.web.throttle import check_rate_limit

COOKIE = "labvault-signin"
SECURE_COOKIE = f"__Host-{COOKIE}"
#: Seconds the cookie lives: as long as a sign-in may take (flows.LOGIN_LIFETIME).
COOKIE_LIFETIME = 600
#: The policy of a page whose form posts to a sign-in route.
FORM_PAGE_REFERRER_POLICY = "strict-origin"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _public_url() -> str | None:
    public_url: str | None = settings()["PUBLIC_URL"]
    return public_url


def _over_https() -> bool:
    return (_public_url() or "").startswith("https://")


def cookie_name() -> str:
    return SECURE_COOKIE if _over_https() else COOKIE


def held_nonce() -> str:
    """What this request's cookie holds ("" without one), for the flows to compare
    (:func:`labvault.signin.flows.is_same_browser`)."""
    return request.cookies.get(cookie_name(), "")


def browser_nonce() -> str:
    """The nonce of the browser this request came from: the one its cookie holds, or a
    new one (hand it to :func:`bind`)."""
    held = held_nonce()
    return held if flows.is_browser_nonce(held) else flows.new_browser_nonce()


def bind(response: Response, nonce: str) -> Response:
    """Set (or renew) the browser's cookie on the answer that sends it to the provider."""
    response.set_cookie(
        cookie_name(),
        nonce,
        max_age=COOKIE_LIFETIME,
        path="/",
        secure=_over_https(),
        httponly=True,
        samesite="Lax",
    )
    return response


def own_origin() -> str:
    """``scheme://host[:port]`` of this server: PUBLIC_URL's, else the request's (only
    compared with the ``Origin`` a browser sends, which no other site can choose)."""
    return origin_of(_public_url() or request.host_url) or ""


def refuse_a_form_from_another_site() -> None:
    """Forbidden when a form (anything but JSON) is posted from another site's page."""
    origin = request.headers.get("Origin")
    if request.method in _SAFE_METHODS or origin is None or request.is_json:
        return
    if origin != own_origin():
        raise Forbidden(
            "this form was sent from another site, not from this server's page; "
            "open the link or start signing in again here"
        )


def guard_signin_routes(provider_blueprints: Collection[str]) -> None:
    """Before every request: a provider's own routes count towards the "signin" rate
    limit (the core's count themselves), and no sign-in route takes a form from another
    site. A browser's CORS preflight is neither."""
    if request.method == "OPTIONS":
        return
    blueprints = set(request.blueprints)
    if blueprints.intersection(provider_blueprints):
        check_rate_limit("signin")
    elif "signin" not in blueprints:
        return
    refuse_a_form_from_another_site()
