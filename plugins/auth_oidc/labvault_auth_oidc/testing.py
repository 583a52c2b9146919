"""A stand-in OpenID Connect provider for tests, and the browser's steps of a sign-in.

:class:`StandInProvider` is a small, real provider on 127.0.0.1 (a Flask app in a
thread): discovery, ``/authorize`` (which signs the configured user in at once, or answers
``error=access_denied``), ``/token`` (client authentication, single-use codes bound to
client, redirect URI and PKCE challenge), ``/jwks`` and RS256 id_tokens. Knobs make it
misbehave the ways a sign-in must refuse. The ``oidc_provider`` fixture starts one::

    # conftest.py
    from labvault_auth_oidc.testing import oidc_provider  # noqa: F401

    def test_sign_in(oidc_provider, labvault_serve):
        oidc_provider.user = {"sub": "0000-0002-1825-0097", "given_name": "Josiah"}
        ...
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
import requests
from flask import Flask, jsonify, redirect, request
from flask.typing import ResponseReturnValue
from joserfc import jwt
from joserfc.jwk import RSAKey
from labvault.testing import page_form
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

#: Ways the stand-in can get an id_token wrong, for the tests of each refusal.
Flaw = Literal["forged", "expired", "wrong_nonce", "wrong_audience", "wrong_issuer"]

DEFAULT_USER: dict[str, Any] = {
    "sub": "alice-0001",
    "email": "alice@example.org",
    "email_verified": True,
    "name": "Alice Example",
}


@dataclass
class _Grant:
    """What an authorization code stands for until it is spent."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    claims: dict[str, Any]
    spent: bool = False


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of ``verifier`` (RFC 7636)."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass  # request lines carry codes; the tests read no log of the stand-in anyway


@dataclass
class StandInProvider:
    """An OpenID Connect provider on 127.0.0.1 speaking the real protocol.

    Set ``user`` to the claims of whoever signs in next (``sub`` and any others);
    ``refuse`` makes ``/authorize`` answer ``error=access_denied``; ``flaw`` makes the
    next id_tokens wrong in one way. ``issued`` collects every code and token handed out,
    so tests can check that none of them reaches a log.
    """

    client_id: str = "labvault-test"
    #: None: a public client, authenticated by PKCE alone.
    client_secret: str | None = "stand-in-client-secret"
    #: Client authentication methods the token endpoint accepts (and discovery announces).
    auth_methods: tuple[str, ...] = ("client_secret_basic", "client_secret_post")
    user: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_USER))
    refuse: bool = False
    flaw: Flaw | None = None
    #: When set, the discovery document names this issuer instead of its own.
    announced_issuer: str | None = None
    issued: list[str] = field(default_factory=list)
    #: Requests per path (discovery and key set fetches show the client's caching).
    hits: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.key = RSAKey.generate_key(2048, auto_kid=True)
        self._grants: dict[str, _Grant] = {}
        self._lock = threading.Lock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # -- running ---------------------------------------------------------------------------

    def start(self) -> StandInProvider:
        app = self._app()
        self._server = make_server(
            "127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    @property
    def issuer(self) -> str:
        assert self._server is not None, "start() the stand-in provider first"
        return f"http://127.0.0.1:{self._server.server_port}"

    def rotate_key(self) -> None:
        """Sign with a new key (another kid) and publish only that one from now on."""
        self.key = RSAKey.generate_key(2048, auto_kid=True)

    def options(self, **extra: Any) -> dict[str, Any]:
        """An ``oidc`` instance's options for this provider (plus ``extra``)."""
        client = {"issuer": self.issuer, "client_id": self.client_id}
        if self.client_secret is not None:
            client["client_secret"] = self.client_secret
        return {"type": "oidc", **client, **extra}

    # -- the protocol ----------------------------------------------------------------------

    def _app(self) -> Flask:
        app = Flask(f"stand-in-openid-provider-{id(self)}")

        @app.before_request
        def count() -> None:
            self.hits[request.path] = self.hits.get(request.path, 0) + 1

        app.add_url_rule("/.well-known/openid-configuration", view_func=self._discovery)
        app.add_url_rule("/authorize", view_func=self._authorize)
        app.add_url_rule("/token", view_func=self._token, methods=["POST"])
        app.add_url_rule("/jwks", view_func=self._jwks)
        return app

    def _discovery(self) -> ResponseReturnValue:
        return jsonify(
            issuer=self.announced_issuer or self.issuer,
            authorization_endpoint=f"{self.issuer}/authorize",
            token_endpoint=f"{self.issuer}/token",
            jwks_uri=f"{self.issuer}/jwks",
            response_types_supported=["code"],
            subject_types_supported=["public"],
            id_token_signing_alg_values_supported=["RS256"],
            token_endpoint_auth_methods_supported=list(self.auth_methods),
            code_challenge_methods_supported=["S256"],
            scopes_supported=["openid", "email", "profile"],
        )

    def _jwks(self) -> ResponseReturnValue:
        return jsonify(keys=[self.key.as_dict(private=False, use="sig", alg="RS256")])

    def _authorize(self) -> ResponseReturnValue:
        args = request.args
        problems = [
            name
            for name, ok in [
                ("response_type", args.get("response_type") == "code"),
                ("client_id", args.get("client_id") == self.client_id),
                ("redirect_uri", bool(args.get("redirect_uri"))),
                ("scope", "openid" in args.get("scope", "").split()),
                ("code_challenge_method", args.get("code_challenge_method") == "S256"),
                ("code_challenge", bool(args.get("code_challenge"))),
            ]
            if not ok
        ]
        if problems:  # never redirect a request the provider cannot trust (RFC 6749 4.1.2.1)
            return {"error": "invalid_request", "bad": problems}, 400
        answer: dict[str, str] = {"state": args.get("state", "")}
        if self.refuse:
            answer |= {"error": "access_denied", "error_description": "The user said no"}
        else:
            code = self._remember(
                secrets.token_urlsafe(24),
                _Grant(
                    client_id=args["client_id"],
                    redirect_uri=args["redirect_uri"],
                    code_challenge=args["code_challenge"],
                    nonce=args.get("nonce"),
                    claims=dict(self.user),
                ),
            )
            answer["code"] = code
        separator = "&" if "?" in args["redirect_uri"] else "?"
        return redirect(f"{args['redirect_uri']}{separator}{urlencode(answer)}", 302)

    def _remember(self, code: str, grant: _Grant) -> str:
        with self._lock:
            self._grants[code] = grant
            self.issued.append(code)
        return code

    def _authenticated_client(self) -> str | None:
        """The client_id the token request proved, by a method this provider accepts."""
        form = request.form
        if request.authorization and request.authorization.type == "basic":
            if "client_secret_basic" not in self.auth_methods:
                return None
            client_id = request.authorization.username
            secret = request.authorization.password
        elif "client_secret" in form:
            if "client_secret_post" not in self.auth_methods:
                return None
            client_id, secret = form.get("client_id"), form["client_secret"]
        else:  # a public client: PKCE is its only proof
            client_id, secret = form.get("client_id"), None
        if client_id != self.client_id or secret != self.client_secret:
            return None
        return client_id

    def _token(self) -> ResponseReturnValue:
        client_id = self._authenticated_client()
        if client_id is None:
            return {"error": "invalid_client"}, 401
        form = request.form
        if form.get("grant_type") != "authorization_code":
            return {"error": "unsupported_grant_type"}, 400
        with self._lock:
            grant = self._grants.get(form.get("code", ""))
            usable = grant is not None and not grant.spent
            if grant is not None:
                grant.spent = True  # single use, even when a check below fails
        if (
            grant is None
            or not usable
            or grant.client_id != client_id
            or grant.redirect_uri != form.get("redirect_uri")
            or grant.code_challenge != s256(form.get("code_verifier", ""))
        ):
            return {"error": "invalid_grant"}, 400
        access_token = secrets.token_urlsafe(32)
        id_token = self._id_token(grant, access_token)
        refresh_token = secrets.token_urlsafe(32)
        self.issued.extend([access_token, refresh_token, id_token])
        return {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 3600,
            "refresh_token": refresh_token,
            "id_token": id_token,
            "scope": "openid",
        }

    def _id_token(self, grant: _Grant, access_token: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            **grant.claims,
            "iss": self.issuer,
            "aud": grant.client_id,
            "iat": now,
            "exp": now + 300,
            "auth_time": now,
            # at_hash: left half of the access token's SHA-256 (OpenID Connect Core 3.1.3.6)
            "at_hash": _b64url(hashlib.sha256(access_token.encode()).digest()[:16]),
        }
        if grant.nonce:
            claims["nonce"] = grant.nonce
        key = self.key
        if self.flaw == "forged":  # same kid, another private key
            key = RSAKey.generate_key(2048, parameters={"kid": str(self.key.kid)})
        elif self.flaw == "expired":
            claims |= {"iat": now - 3600, "exp": now - 1800}
        elif self.flaw == "wrong_nonce":
            claims["nonce"] = secrets.token_urlsafe(24)
        elif self.flaw == "wrong_audience":
            claims["aud"] = "another-application"
        elif self.flaw == "wrong_issuer":
            claims["iss"] = "https://impostor.example"
        return jwt.encode({"alg": "RS256", "kid": str(self.key.kid)}, claims, key)


@pytest.fixture
def oidc_provider() -> Iterator[StandInProvider]:
    """A running :class:`StandInProvider`, stopped when the test ends."""
    provider = StandInProvider().start()
    yield provider
    provider.stop()


# -- the browser's steps ------------------------------------------------------------------


def query_of(url: str) -> dict[str, str]:
    """The query parameters of ``url`` (first value of each)."""
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def visit_provider(authorization_url: str) -> str:
    """Follow the authorization URL at the provider: the callback URL it sends back to."""
    answer = requests.get(authorization_url, allow_redirects=False, timeout=30)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def bearer(access_token: str) -> dict[str, str]:
    """The Authorization header of labvault's access token."""
    return {"Authorization": f"Bearer {access_token}"}


def _accept(as_json: bool) -> dict[str, str]:
    return {"Accept": "application/json" if as_json else "text/html"}


class Browser:
    """One person's browser signing in to the labvault served at ``base_url``.

    It keeps labvault's cookies (a sign-in belongs to the browser that started it),
    follows labvault's redirects and hands back the provider's URL (for
    :func:`visit_provider`), and sends its origin with the forms it posts, as browsers do.
    """

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()

    def open(self, url: str) -> str:
        """Open ``url`` and follow labvault's redirects: the first URL elsewhere."""
        while url.startswith(self.base_url + "/"):
            answer = self.session.get(url, allow_redirects=False, timeout=30)
            assert answer.status_code == 302, answer.text
            url = answer.headers["Location"]
        return url

    def start(
        self, instance: str, *, next_url: str | None = None, bearer: str | None = None
    ) -> str:
        """Start signing in with ``instance``: the provider URL the browser lands on. With
        ``bearer``, a script starts a linking sign-in (Accept: application/json) and the
        browser opens the URL the script got."""
        login = f"{self.base_url}/auth/{instance}/login"
        query = {"next": next_url} if next_url is not None else {}
        if bearer is None:
            return self.open(f"{login}?{urlencode(query)}" if query else login)
        answer = requests.get(
            login,
            params={**query, "link": "true"},
            headers={"Authorization": f"Bearer {bearer}", **_accept(True)},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        return self.open(str(answer.json()["authorization_url"]))

    def finish(self, callback_url: str, *, accept_json: bool = True) -> requests.Response:
        """GET the callback URL the provider sent the browser to."""
        return self.session.get(
            callback_url, headers=_accept(accept_json), allow_redirects=False, timeout=30
        )

    def confirm(
        self, page: requests.Response, *, origin: str | None = None, accept_json: bool = True
    ) -> requests.Response:
        """Press the button of a page that asks to confirm (a link's): post its form, from
        this server's origin unless ``origin`` says another."""
        action, fields = page_form(page.text)
        return self.session.post(
            urljoin(page.url, action),
            data=fields,
            headers={"Origin": origin or self.base_url, **_accept(accept_json)},
            allow_redirects=False,
            timeout=30,
        )

    def sign_in(self, instance: str, *, bearer: str | None = None) -> Mapping[str, Any]:
        """A whole sign-in that must succeed (with ``bearer``, a link, confirmed):
        labvault's tokens as JSON."""
        answer = self.finish(visit_provider(self.start(instance, bearer=bearer)))
        if bearer is not None:
            assert answer.headers["Content-Type"].startswith("text/html"), answer.text
            answer = self.confirm(answer)
        assert answer.status_code == 200, answer.text
        tokens: Mapping[str, Any] = answer.json()
        return tokens
