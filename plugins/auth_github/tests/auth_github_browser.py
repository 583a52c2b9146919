"""What a browser does during a sign-in with GitHub, step by step over real HTTP: each
redirect is followed by hand, labvault's cookies are kept (a sign-in belongs to the
browser that started it), and every secret seen on the way (states, codes, tokens) is
kept, to check that labvault's log shows none of them."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from auth_github_stand_in import StandInGitHub
from labvault.testing import ServedApp, page_form

JSON = {"Accept": "application/json"}
#: Where a client app of the lab receives its tokens (the only allowed `next` origin).
CLIENT_APP = "https://app.lab.example.org"


class Browser:
    """Signs in to one served labvault through one stand-in GitHub, as one browser."""

    def __init__(
        self,
        served: ServedApp,
        github: StandInGitHub,
        instance: str,
        seen: set[str] | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.served = served
        self.github = github
        self.instance = instance
        self.seen: set[str] = set() if seen is None else seen
        self.session = session or requests.Session()

    def using(self, instance: str) -> Browser:
        """The same browser, signing in with another instance of the served labvault."""
        return Browser(self.served, self.github, instance, self.seen, self.session)

    def elsewhere(self) -> Browser:
        """Another browser (another person's), signing in with the same instance."""
        return Browser(self.served, self.github, self.instance, self.seen)

    def login(self, *, next_url: str | None = None, link_token: str | None = None) -> str:
        """Start a sign-in; returns the GitHub URL labvault sends the browser to. With
        ``link_token`` a script starts it (JSON): the GitHub identity is to join that
        signed-in account, once confirmed, and the browser opens the URL it got."""
        params = {"next": next_url} if next_url else {}
        if link_token is None:
            response = self.get(f"/auth/{self.instance}/login", params=params)
            assert response.status_code == 302, response.text
            return self.open(response.headers["Location"])
        response = requests.get(
            f"{self.served.base_url}/auth/{self.instance}/login",
            params={**params, "link": "true"},
            headers={"Authorization": f"Bearer {link_token}", **JSON},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return self.open(str(response.json()["authorization_url"]))

    def open(self, url: str) -> str:
        """Follow labvault's redirects from ``url``: the first URL elsewhere (GitHub's)."""
        while url.startswith(self.served.base_url + "/"):
            response = self.session.get(url, allow_redirects=False, timeout=30)
            assert response.status_code == 302, response.text
            url = response.headers["Location"]
        self._remember_query(url)
        return url

    def authorize(self, authorization_url: str) -> str:
        """The GitHub authorize page; returns where GitHub sends the browser back."""
        response = requests.get(authorization_url, allow_redirects=False, timeout=10)
        assert response.status_code == 302, response.text
        callback_url = response.headers["Location"]
        self._remember_query(callback_url)
        return callback_url

    def finish(self, callback_url: str, *, as_json: bool = True) -> requests.Response:
        """Back at labvault's callback: the answer (tokens as JSON, unless refused)."""
        response = self.session.get(
            callback_url, headers=JSON if as_json else {}, allow_redirects=False, timeout=30
        )
        return self._remember_tokens(response)

    def confirm(self, page: requests.Response, *, origin: str | None = None) -> requests.Response:
        """Press the button of a link's confirmation page: post its form (as JSON is
        asked), from labvault's own origin unless ``origin`` says another."""
        action, fields = page_form(page.text)
        self.seen.update(fields.values())
        response = self.session.post(
            urljoin(page.url, action),
            data=fields,
            headers={"Origin": origin or self.served.base_url, **JSON},
            allow_redirects=False,
            timeout=30,
        )
        return self._remember_tokens(response)

    def sign_in(self, *, next_url: str | None = None, link_token: str | None = None) -> Any:
        """The whole sign-in, as whoever ``github.browser_user`` names; a link is
        confirmed on its page."""
        answer = self.finish(self.authorize(self.login(next_url=next_url, link_token=link_token)))
        if link_token is not None and answer.headers["Content-Type"].startswith("text/html"):
            answer = self.confirm(answer)
        return answer

    def signed_in(self) -> str:
        """Sign in, which must work; returns the access token."""
        response = self.sign_in()
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def get(self, path: str, *, token: str | None = None, **kwargs: Any) -> requests.Response:
        """A GET of labvault in this browser, with ``token`` as bearer token."""
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.session.get(
            self.served.base_url + path,
            headers=headers,
            allow_redirects=False,
            timeout=30,
            **kwargs,
        )

    def me(self, token: str) -> dict[str, Any]:
        response = self.get("/users/me", token=token)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def identities(self, token: str) -> list[dict[str, Any]]:
        response = self.get("/users/me/identities", token=token)
        assert response.status_code == 200, response.text
        return list(response.json())

    def assert_log_shows_no_secret(self) -> None:
        """No state, code, token or client secret seen in this test is in the log."""
        log = self.served.log()
        secrets = self.seen | set(self.github.issued) | {self.github.client_secret}
        assert secrets  # a check that checks nothing must not pass
        leaked = sorted(secret for secret in secrets if secret in log)
        assert not leaked, f"{len(leaked)} secrets in the server log"

    def _remember_tokens(self, response: requests.Response) -> requests.Response:
        if response.status_code == 200 and response.headers["Content-Type"] == "application/json":
            self.seen.update(response.json()[name] for name in ("access_token", "refresh_token"))
        return response

    def _remember_query(self, url: str) -> None:
        query = parse_qs(urlsplit(url).query)
        for name in ("state", "code"):
            self.seen.update(query.get(name, []))


def assert_refused(answer: requests.Response, status: int, message: str) -> None:
    """``answer`` is labvault's JSON error with ``status`` and ``message`` in its text."""
    assert answer.status_code == status, answer.text
    assert message in answer.json()["message"]
