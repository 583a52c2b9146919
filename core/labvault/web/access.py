"""Who is calling: bearer authentication and role checks for routes.

Every refused token (a bearer JWT or API key: expired, forged, malformed, for another
server, revoked, of a user who is gone or deactivated; a refresh token: unknown, used,
revoked, expired) gets the same 401, so a caller probing tokens learns nothing from the
answer; why it was refused goes to the log.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar, cast

from flask import current_app, g, request
from flask_smorest import abort

from labvault.auth.models import Role, Status, User
from labvault.auth.service import API_KEY_PREFIX, AuthError, authenticate_bearer
from labvault.web.session import get_session
from labvault.web.state import signer

F = TypeVar("F", bound=Callable[..., Any])

#: ``g.current_user`` before this request's credentials were read (None: no credentials).
_UNKNOWN = object()
#: The message of every refused bearer token.
INVALID_TOKEN_MESSAGE = "invalid or expired token"


def _unauthorized(message: str, error: str | None = "invalid_token") -> NoReturn:
    challenge = 'Bearer realm="labvault"'
    if error:  # RFC 6750: no error code when the request had no credentials at all
        description = message.replace('"', "'")
        challenge += f', error="{error}", error_description="{description}"'
    abort(401, message=message, headers={"WWW-Authenticate": challenge})
    raise AssertionError("abort() raises")  # flask-smorest's abort is not typed NoReturn


def refuse_token(kind: str, reason: AuthError) -> NoReturn:
    """Answer the one 401 of a refused token; log why (the reason never holds the token)."""
    current_app.logger.info("%s token refused (%s): %s", kind, request.remote_addr, reason)
    _unauthorized(INVALID_TOKEN_MESSAGE)


def current_user() -> User | None:
    """The signed-in user of this request; None without credentials; 401 for bad ones."""
    known = g.get("current_user", _UNKNOWN)  # one look-up through Flask's proxy
    if known is not _UNKNOWN:
        return cast(User | None, known)
    header = request.headers.get("Authorization", "")
    user, api_key = None, False
    if header:
        scheme, _, credential = header.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            _unauthorized("the Authorization header must be 'Bearer <token>'", "invalid_request")
        try:
            user = authenticate_bearer(get_session(), signer(), credential)
        except AuthError as exc:
            refuse_token("bearer", exc)
        api_key = credential.startswith(API_KEY_PREFIX)
    g.current_user, g.signed_in_with_api_key = user, api_key
    return user


def signed_in_with_api_key() -> bool:
    """Whether this request's user came with a personal API key (not an access token)."""
    current_user()
    return bool(g.signed_in_with_api_key)


def signed_in_user() -> User:
    """The user of a route behind :func:`require_user` (never None there)."""
    user = current_user()
    if user is None:  # a route forgot @require_user: fail closed
        _unauthorized("authentication required", None)
    return cast(User, user)


UNVERIFIED_MESSAGE = (
    "your account is waiting for an admin to activate it; until then only /users/me and "
    "/users/me/identities answer you"
)


def require_user(role: Role | None = None, *, unverified: bool = False) -> Callable[[F], F]:
    """Route decorator: a valid bearer token is needed (401), and at least ``role`` (403).

    Unverified accounts get 403 unless ``unverified`` (their own account and identities).
    """

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                _unauthorized("authentication required: send 'Authorization: Bearer <token>'", None)
            if user.status == Status.UNVERIFIED and not unverified:
                abort(403, message=UNVERIFIED_MESSAGE)
            if role is not None and not user.has_role(role):
                abort(403, message=f"this needs the {role.value} role")
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorate
