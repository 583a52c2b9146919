"""Each way a GitHub sign-in is refused, as the person signing in sees it."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from auth_github_browser import CLIENT_APP, Browser, assert_refused
from auth_github_stand_in import StandInGitHub
from labvault.testing import TestUser, free_port

ADA_EMAIL = "ada@lab.example.org"


@pytest.fixture
def ada(github: StandInGitHub) -> None:
    github.add_user("ada", name="Ada Lovelace", email=ADA_EMAIL)
    github.browser_user = "ada"


def with_query(url: str, **changes: str) -> str:
    """``url`` with some of its query parameters replaced."""
    parts = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    return parts._replace(query=urlencode({**query, **changes})).geturl()


@pytest.mark.usefixtures("ada")
def test_a_callback_with_a_wrong_state_is_refused(serve_github: Callable[..., Browser]) -> None:
    lab = serve_github()
    callback_url = lab.authorize(lab.login())

    answer = lab.finish(with_query(callback_url, state="A" * 43))

    assert_refused(answer, 400, "this sign-in is unknown, expired")
    lab.assert_log_shows_no_secret()


@pytest.mark.usefixtures("ada")
def test_a_replayed_callback_is_refused(serve_github: Callable[..., Browser]) -> None:
    lab = serve_github()
    callback_url = lab.authorize(lab.login())
    assert lab.finish(callback_url).status_code == 200

    answer = lab.finish(callback_url)

    assert_refused(answer, 400, "already finished; start again")
    lab.assert_log_shows_no_secret()


@pytest.mark.usefixtures("ada")
def test_a_used_authorization_code_is_refused(serve_github: Callable[..., Browser]) -> None:
    lab = serve_github()
    first_callback = lab.authorize(lab.login())
    assert lab.finish(first_callback).status_code == 200
    used_code = parse_qs(urlsplit(first_callback).query)["code"][0]

    # a new sign-in (its state is fresh) brought back with the old code
    new_callback = lab.authorize(lab.login())
    answer = lab.finish(with_query(new_callback, code=used_code))

    assert_refused(answer, 401, "GitHub refused the sign-in code; start again")
    lab.assert_log_shows_no_secret()


@pytest.mark.usefixtures("ada")
def test_a_next_url_outside_the_allowed_origins_is_refused(
    serve_github: Callable[..., Browser],
) -> None:
    lab = serve_github()

    answer = lab.get("/auth/github/login", params={"next": "https://evil.example.com/steal"})

    assert_refused(answer, 422, "ALLOWED_REDIRECT_ORIGINS")
    allowed = lab.get("/auth/github/login", params={"next": f"{CLIENT_APP}/signed-in"})
    assert allowed.status_code == 302


@pytest.mark.usefixtures("ada")
def test_a_deactivated_account_is_refused(
    serve_github: Callable[..., Browser], make_account: Callable[..., TestUser]
) -> None:
    lab = serve_github()
    make_account(email=ADA_EMAIL, status="deactivated")

    answer = lab.sign_in()

    assert_refused(answer, 403, "the account is deactivated")


@pytest.mark.usefixtures("ada")
def test_access_denied_on_github_is_refused(
    github: StandInGitHub, serve_github: Callable[..., Browser]
) -> None:
    github.user_denies = True
    lab = serve_github()

    callback_url = lab.authorize(lab.login())
    assert parse_qs(urlsplit(callback_url).query)["error"] == ["access_denied"]
    answer = lab.finish(callback_url)

    assert_refused(answer, 403, "GitHub did not sign you in")
    assert github.tokens == {}


@pytest.mark.usefixtures("ada")
def test_github_unreachable_is_a_502(
    github: StandInGitHub, serve_github: Callable[..., Browser]
) -> None:
    lab = serve_github(
        more_instances={"github_api_down": {"api_url": f"http://127.0.0.1:{free_port()}/api/v3"}}
    )
    # the REST API unreachable, after the code was exchanged
    api_down = lab.using("github_api_down").sign_in()
    assert_refused(api_down, 502, "GitHub could not be reached")
    # GitHub gone between its authorize page and the token request
    callback_url = lab.authorize(lab.login())
    github.stop()

    answer = lab.finish(callback_url)

    assert_refused(answer, 502, "GitHub could not be reached")
    lab.assert_log_shows_no_secret()


@pytest.mark.usefixtures("ada")
def test_github_answering_wrongly_is_a_502(
    github: StandInGitHub, serve_github: Callable[..., Browser]
) -> None:
    lab = serve_github(more_instances={"github_misconfigured": {"client_secret": "not-it"}})
    # GitHub refuses the client secret (with 200 and an error, as for a bad code)
    misconfigured = lab.using("github_misconfigured").sign_in()
    assert_refused(misconfigured, 502, "GitHub refused this server's sign-in settings")
    assert "incorrect_client_credentials" in lab.served.log()  # what an admin looks for
    # an error page instead of JSON
    unicorn = "<html><body>Unicorn! No server is available to handle this request.</body></html>"
    github.token_endpoint_answer = (503, unicorn, "text/html")

    answer = lab.sign_in()

    assert_refused(answer, 502, "GitHub could not be reached")
    lab.assert_log_shows_no_secret()
