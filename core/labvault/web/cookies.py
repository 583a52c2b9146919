"""Flask's signed cookie session, its serializer made once per secret key.

labvault's API does not use the cookie session, but a plugin may (Flask's ``session``),
and Flask opens it on every request: its stock interface builds a new
``URLSafeTimedSerializer`` each time, more work than some of the requests it serves.
The serializer depends only on SECRET_KEY (and SECRET_KEY_FALLBACKS), so it is kept
and made again only when they change; everything else is Flask's own.
"""

from __future__ import annotations

import threading

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer


class CookieSessions(SecureCookieSessionInterface):
    """:class:`SecureCookieSessionInterface` with its serializer kept per secret key."""

    def __init__(self) -> None:
        self._made: tuple[object, URLSafeTimedSerializer | None] | None = None
        self._lock = threading.Lock()

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        made = self._made
        if made is None or made[0] != keys:
            with self._lock:
                made = self._made = (keys, super().get_signing_serializer(app))
        return made[1]
