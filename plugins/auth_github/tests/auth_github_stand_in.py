"""A stand-in GitHub for the tests: the OAuth app endpoints and the REST API calls
labvault makes, answering as GitHub does, served over real HTTP on 127.0.0.1.

The REST API lives under ``/api/v3`` as on GitHub Enterprise Server, so labvault is
configured with ``web_url=<base>`` and ``api_url=<base>/api/v3``. The authorize page
signs in whoever ``browser_user`` names, the GitHub account the browser is signed in to.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, abort, jsonify, redirect, request
from werkzeug.serving import make_server

#: The OAuth app labvault is registered as.
CLIENT_ID = "Ov23li5d7a0c2b9e4f1a"
CLIENT_SECRET = "stand-in-client-secret-0f3e9a7c51d2b864"
SCOPES = ("read:org", "read:user", "user:email")
DOCS = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"


@dataclass
class GitHubUser:
    """A GitHub account: what /user, /user/emails and /user/orgs answer for it."""

    id: int
    login: str
    name: str | None = None
    #: As /user/emails lists them: {"email", "primary", "verified", "visibility"}.
    emails: list[dict[str, Any]] = field(default_factory=list)
    #: As /user/orgs lists them: {"id", "login"}.
    orgs: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Grant:
    """An authorization code GitHub handed out, and what it is bound to."""

    user: GitHubUser
    redirect_uri: str
    code_challenge: str | None


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class StandInGitHub:
    """GitHub as one OAuth app sees it, with knobs for the tests."""

    def __init__(self, client_id: str, client_secret: str) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        #: The app's registered callback URLs; redirect_uri must be one (empty: any).
        self.callback_urls: set[str] = set()
        self.users: dict[str, GitHubUser] = {}
        #: Who is signed in to GitHub in the browser: the authorize page signs them in.
        self.browser_user: str | None = None
        #: The person presses "Cancel" on the authorize page.
        self.user_denies = False
        #: GitHub's largest page of organisations is 100; lower it to test pagination.
        self.max_per_page = 100
        #: Where the Link header sends the next page of /user/orgs (None: this API).
        self.next_page_api_url: str | None = None
        #: A canned (status, body, content type) the token endpoint answers instead.
        self.token_endpoint_answer: tuple[int, str, str] | None = None
        self.grants: dict[str, Grant] = {}
        self.tokens: dict[str, GitHubUser] = {}
        #: Every code and access token handed out, to look for in labvault's log.
        self.issued: list[str] = []
        #: Paths with query string of every API request, in order.
        self.api_requests: list[str] = []
        self.app = self._make_app()
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        self.api_url = f"{self.base_url}/api/v3"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop answering: from now on connections to it are refused."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()

    def add_user(
        self,
        login: str,
        *,
        name: str | None = None,
        email: str | None = None,
        email_verified: bool = True,
        orgs: Sequence[tuple[int, str]] = (),
    ) -> GitHubUser:
        """A GitHub account (id chosen here) with one primary email and organisations."""
        emails = [
            {"email": f"{login}@users.noreply.github.com", "primary": False, "verified": True}
        ]
        if email is not None:
            emails.insert(0, {"email": email, "primary": True, "verified": email_verified})
        user = GitHubUser(
            id=4_000_000 + len(self.users) * 1017,
            login=login,
            name=name,
            emails=[{**entry, "visibility": "private"} for entry in emails],
            orgs=[{"id": org_id, "login": org_login} for org_id, org_login in orgs],
        )
        self.users[login] = user
        return user

    def issue_token(self, login: str) -> str:
        """An access token for ``login``, as if it had signed in."""
        token = f"gho_{secrets.token_urlsafe(27)}"
        self.tokens[token] = self.users[login]
        self.issued.append(token)
        return token

    # -- the app -------------------------------------------------------------------------

    def _make_app(self) -> Flask:
        app = Flask("stand_in_github")
        app.add_url_rule("/login/oauth/authorize", view_func=self._authorize)
        app.add_url_rule(
            "/login/oauth/access_token", view_func=self._access_token, methods=["POST"]
        )
        api: dict[str, Callable[[GitHubUser], Response]] = {
            "/api/v3/user": self._user,
            "/api/v3/user/emails": self._emails,
            "/api/v3/user/orgs": self._orgs,
        }
        for path, view in api.items():
            app.add_url_rule(path, endpoint=path, view_func=self._authenticated(view))
        return app

    def _authorize(self) -> Any:
        args = request.args
        if args.get("client_id") != self.client_id:
            abort(404)  # GitHub shows a 404 page for an unknown client_id
        redirect_uri = args.get("redirect_uri", "")
        if self.callback_urls and redirect_uri not in self.callback_urls:
            # GitHub shows an error page and does not redirect anywhere
            return "The redirect_uri is not associated with this application.", 400
        challenge = args.get("code_challenge")
        if challenge is not None and args.get("code_challenge_method") != "S256":
            return "code_challenge_method must be S256", 400
        answer = {"state": args.get("state", "")}
        if self.user_denies or self.browser_user is None:
            answer = {
                "error": "access_denied",
                "error_description": "The user has denied your application access.",
                "error_uri": DOCS,
                **answer,
            }
        else:
            code = secrets.token_hex(10)  # GitHub's codes are 20 hex characters
            self.grants[code] = Grant(self.users[self.browser_user], redirect_uri, challenge)
            self.issued.append(code)
            answer = {"code": code, **answer}
        return redirect(f"{redirect_uri}?{urlencode(answer)}", 302)

    def _access_token(self) -> Any:
        if self.token_endpoint_answer is not None:
            status, body, content_type = self.token_endpoint_answer
            return Response(body, status, content_type=content_type)
        form, basic = request.values, request.authorization  # GitHub takes either
        client_id = form.get("client_id") or (basic.username if basic else None)
        secret = form.get("client_secret") or (basic.password if basic else None)
        if client_id != self.client_id or secret != self.client_secret:
            return self._token_error(
                "incorrect_client_credentials",
                "The client_id and/or client_secret passed are incorrect.",
            )
        grant = self.grants.pop(form.get("code", ""), None)  # a code works once
        if grant is None:
            return self._token_error(
                "bad_verification_code", "The code passed is incorrect or expired."
            )
        if form.get("redirect_uri", grant.redirect_uri) != grant.redirect_uri:
            return self._token_error(
                "redirect_uri_mismatch",
                "The redirect_uri MUST match the registered callback URL for this application.",
            )
        verifier = form.get("code_verifier")
        if grant.code_challenge is not None and (
            verifier is None or s256(verifier) != grant.code_challenge
        ):
            return self._token_error(
                "bad_verification_code", "The code passed is incorrect or expired."
            )
        token = self.issue_token(grant.user.login)
        answer = {"access_token": token, "token_type": "bearer", "scope": ",".join(SCOPES)}
        return self._token_answer(answer)

    def _token_error(self, error: str, description: str) -> Response:
        # GitHub answers a refused code with 200 and the error in the body
        return self._token_answer(
            {"error": error, "error_description": description, "error_uri": DOCS}
        )

    @staticmethod
    def _token_answer(fields: dict[str, str]) -> Response:
        # without Accept: application/json GitHub answers form-encoded
        if request.accept_mimetypes.best_match(["application/json"]):
            return jsonify(fields)
        return Response(urlencode(fields), 200, content_type="application/x-www-form-urlencoded")

    def _authenticated(self, view: Callable[[GitHubUser], Response]) -> Callable[[], Response]:
        def checked() -> Response:
            self.api_requests.append(request.full_path.rstrip("?"))
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            user = self.tokens.get(token) if scheme.lower() in {"bearer", "token"} else None
            if user is None:
                answer = jsonify({"message": "Bad credentials", "documentation_url": DOCS})
                answer.status_code = 401
                return answer
            return view(user)

        return checked

    @staticmethod
    def _user(user: GitHubUser) -> Response:
        return jsonify({"login": user.login, "id": user.id, "name": user.name, "type": "User"})

    @staticmethod
    def _emails(user: GitHubUser) -> Response:
        return jsonify(user.emails)

    def _orgs(self, user: GitHubUser) -> Response:
        per_page = min(request.args.get("per_page", 30, type=int), self.max_per_page)
        page = request.args.get("page", 1, type=int)
        pages = max(1, -(-len(user.orgs) // per_page))
        answer = jsonify(user.orgs[(page - 1) * per_page : page * per_page])
        page_url = f"{self.next_page_api_url or self.api_url}/user/orgs?per_page={per_page}&page="
        links = [f'<{page_url}{page + 1}>; rel="next"'] if page < pages else []
        links.append(f'<{page_url}{pages}>; rel="last"')
        answer.headers["Link"] = ", ".join(links)
        return answer
