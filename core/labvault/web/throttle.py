"""Rate limits of the sign-in and token routes, per client address, for every worker:
the request's side.

RATE_LIMITS sets one limit per kind of route: ``signin`` (starting and finishing a
sign-in) and ``token`` (refreshing, signing out, creating an API key). Every attempt
counts, accepted or refused, so guessing refresh tokens is as slow as using them. The
count is the database's token bucket (:mod:`labvault.auth.limits`): all workers, and
all servers on one database, share it. The client address is ``request.remote_addr``,
which ProxyFix takes from ``X-Forwarded-For`` behind reverse proxies (PROXY_HOPS back);
without it, every client of the proxy would share one count.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import request

from labvault.auth import limits
from labvault.errors import TooManyRequests
from labvault.plugin import Blueprint
from labvault.settings import parse_rate_limit
from labvault.web.session import get_session
from labvault.web.state import settings

F = TypeVar("F", bound=Callable[..., Any])

RETRY_AFTER_HEADER = {
    "description": "seconds until the next attempt is allowed",
    "schema": {"type": "integer", "minimum": 1},
}


def check_rate_limit(kind: str) -> None:
    """Count one attempt of this client at a ``kind`` route; TooManyRequests (429, with
    Retry-After) when it has used up its limit."""
    limit = parse_rate_limit(settings()["RATE_LIMITS"][kind])
    if limit is None:
        return
    attempts, period = limit
    wait = limits.take(get_session(), f"{kind}:{request.remote_addr}", attempts, period)
    if wait:
        seconds = int(wait)
        raise TooManyRequests(
            f"too many attempts from your address; try again in {seconds} seconds", seconds
        )


def document_rate_limit(blueprint: Blueprint, kind: str) -> Callable[[F], F]:
    """Route decorator: the 429 of a route that calls :func:`check_rate_limit` itself
    (once it knows the attempt is one: a route that does not exist is not counted)."""
    return cast(
        Callable[[F], F],
        blueprint.alt_response(
            429,
            schema="Error",
            description=f"too many attempts from your address (the {kind} rate limit)",
            headers={"Retry-After": RETRY_AFTER_HEADER},
        ),
    )


def rate_limited(blueprint: Blueprint, kind: str) -> Callable[[F], F]:
    """Route decorator: the ``kind`` rate limit applies, and the 429 is documented.

    The limit is checked where the decorator is placed: above the route's input
    arguments, an attempt with a bad body counts too."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def limited(*args: Any, **kwargs: Any) -> Any:
            check_rate_limit(kind)
            return view(*args, **kwargs)

        return document_rate_limit(blueprint, kind)(cast(F, limited))

    return decorate
