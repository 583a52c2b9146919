"""Talking to GitHub: the OAuth app's authorization URL and code exchange, then the
REST API calls that say who signed in (account, verified email, organisations).

Every failure becomes one of labvault's errors with a message for the person signing
in; no message and no log line carries a code, a state or a token.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from labvault.plugin import Unauthenticated, Unavailable

# requests and Authlib (with cryptography) are imported by a sign-in, not when the
# plugin is enabled: a CLI command or a server worker that signs nobody in does without
if TYPE_CHECKING:
    import requests
    from authlib.integrations.requests_client import OAuth2Session

#: read:user for the account, user:email for private addresses, read:org for
#: memberships that are not public.
SCOPES = "read:user user:email read:org"
API_HEADERS = {
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": "2022-11-28",
}
#: GitHub's largest page; a user rarely belongs to more organisations.
ORGS_PER_PAGE = 100
#: Pages of organisations followed at most (a Link loop must not keep a sign-in busy).
MAX_ORG_PAGES = 50
#: Token endpoint errors that mean labvault's own OAuth app settings are wrong, not the code.
_CLIENT_ERRORS = {"incorrect_client_credentials", "invalid_client", "unauthorized_client"}


@dataclass(frozen=True)
class Organisation:
    """An organisation the user belongs to."""

    id: int
    login: str


@dataclass(frozen=True)
class GitHubAccount:
    """Who signed in, as GitHub's API describes them."""

    id: int
    login: str
    name: str | None
    #: The primary address, if GitHub verified it; else None.
    verified_email: str | None
    organisations: tuple[Organisation, ...]


class GitHubClient:
    """GitHub (or a GitHub Enterprise Server) as one OAuth app reaches it."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        web_url: str,
        api_url: str,
        timeout: float,
        label: str,
        logger: logging.Logger,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.web_url = web_url
        self.api_url = api_url
        self.timeout = timeout
        self.label = label
        self.logger = logger

    def _oauth(self, redirect_uri: str) -> OAuth2Session:
        from authlib.integrations.requests_client import OAuth2Session

        return OAuth2Session(
            self.client_id,
            self.client_secret,
            scope=SCOPES,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            # GitHub documents client_id and client_secret as form fields
            token_endpoint_auth_method="client_secret_post",
        )

    def _unavailable(self, what: str, detail: str) -> Unavailable:
        """The error for a GitHub that cannot be reached or answers wrongly; logs why."""
        self.logger.warning("%s: %s (%s)", self.label, what, detail)
        return Unavailable(
            f"{self.label} could not be reached or answered wrongly; try again later"
        )

    def authorization_url(self, redirect_uri: str, state: str, code_verifier: str) -> str:
        """GitHub's authorize page, asking for the scopes with a PKCE S256 challenge."""
        with self._oauth(redirect_uri) as oauth:
            url, _state = oauth.create_authorization_url(
                f"{self.web_url}/login/oauth/authorize", state=state, code_verifier=code_verifier
            )
        return str(url)

    def exchange_code(self, code: str, redirect_uri: str, code_verifier: str) -> str:
        """The access token GitHub gives for the sign-in's code."""
        import requests
        from authlib.integrations.base_client import OAuthError

        url = f"{self.web_url}/login/oauth/access_token"
        with self._oauth(redirect_uri) as oauth:
            try:
                token = oauth.fetch_token(
                    url,
                    code=code,
                    code_verifier=code_verifier,
                    headers={"Accept": "application/json"},
                    timeout=self.timeout,
                )
            except requests.RequestException as exc:  # unreachable, timeout, 4xx/5xx status
                raise self._unavailable("token endpoint failed", type(exc).__name__) from None
            except ValueError:  # a 200 whose body is not a JSON object
                raise self._unavailable("token endpoint failed", "not a JSON object") from None
            except OAuthError as exc:
                # GitHub refuses with 200 and {"error": ...}; the error name holds no secret
                if exc.error in _CLIENT_ERRORS:
                    self.logger.error(
                        "%s refused the client credentials (%s): check client_id and client_secret",
                        self.label,
                        exc.error,
                    )
                    raise Unavailable(
                        f"{self.label} refused this server's sign-in settings; tell an admin"
                    ) from None
                self.logger.info("%s refused a sign-in code (%s)", self.label, exc.error)
                raise Unauthenticated(
                    f"{self.label} refused the sign-in code; start again"
                ) from None
        access_token = token.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise self._unavailable("token endpoint failed", "no access_token in its answer")
        return access_token

    def account(self, access_token: str) -> GitHubAccount:
        """Who the access token belongs to: account, verified primary email, organisations."""
        import requests

        with requests.Session() as session:
            session.headers.update({**API_HEADERS, "Authorization": f"Bearer {access_token}"})
            user, _ = self._get_json(session, f"{self.api_url}/user")
            if not isinstance(user, dict) or not _is_id(user.get("id")):
                raise self._unavailable("GET /user answered wrongly", "no numeric id")
            emails, _ = self._get_json(session, f"{self.api_url}/user/emails")
            if not isinstance(emails, list):
                raise self._unavailable("GET /user/emails answered wrongly", "not a list")
            organisations = tuple(self._organisations(session))
        login, name = user.get("login"), user.get("name")
        return GitHubAccount(
            id=user["id"],
            login=login if isinstance(login, str) else "",
            name=name if isinstance(name, str) and name.strip() else None,
            verified_email=_primary_verified(emails),
            organisations=organisations,
        )

    def _organisations(self, session: requests.Session) -> Iterator[Organisation]:
        url: str | None = f"{self.api_url}/user/orgs?per_page={ORGS_PER_PAGE}"
        for _page in range(MAX_ORG_PAGES):
            if url is None:
                return
            page, url = self._get_json(session, url)
            if not isinstance(page, list):
                raise self._unavailable("GET /user/orgs answered wrongly", "not a list")
            for entry in page:
                if isinstance(entry, dict) and _is_id(entry.get("id")):
                    yield Organisation(entry["id"], str(entry.get("login") or ""))
        if url is not None:
            raise self._unavailable("GET /user/orgs answered wrongly", "too many pages")

    def _get_json(self, session: requests.Session, url: str) -> tuple[Any, str | None]:
        """The JSON body of a GET of the API, and the URL of its next page (Link header)."""
        import requests

        failed = f"GET {urlsplit(url).path} failed"
        try:
            response = session.get(url, timeout=self.timeout)
        except requests.RequestException as exc:
            raise self._unavailable(failed, type(exc).__name__) from None
        if response.status_code != 200:
            raise self._unavailable(failed, f"HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise self._unavailable(failed, "not JSON") from None
        next_url = response.links.get("next", {}).get("url")
        if next_url is not None and _origin(next_url) != _origin(self.api_url):
            # the bearer token goes along with the next request: only to the API itself
            raise self._unavailable("pagination left the API", _origin(next_url))
        return body, next_url


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _primary_verified(emails: list[Any]) -> str | None:
    """The address GitHub marks primary, if it is verified too (else None)."""
    for entry in emails:
        if (
            isinstance(entry, dict)
            and entry.get("primary") is True
            and entry.get("verified") is True
            and isinstance(entry.get("email"), str)
        ):
            return str(entry["email"])
    return None
