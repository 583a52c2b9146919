"""Signing in with GitHub: the redirect, the account it reaches, what /users/me shows."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from auth_github_browser import Browser
from auth_github_stand_in import CLIENT_ID, SCOPES, StandInGitHub
from labvault.testing import TestUser


def test_sign_in_registers_an_account_that_the_next_sign_in_reaches(
    github: StandInGitHub, serve_github: Callable[..., Browser]
) -> None:
    ada = github.add_user("ada", name="Ada Lovelace", email="ada@lab.example.org")
    github.browser_user = "ada"
    lab = serve_github()

    authorization_url = lab.login()
    parts, query = urlsplit(authorization_url), parse_qs(urlsplit(authorization_url).query)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        f"{github.base_url}/login/oauth/authorize"
    )
    assert query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == [f"{lab.served.base_url}/auth/github/callback"]
    assert len(query["state"][0]) >= 32
    assert len(query["code_challenge"][0]) == 43
    assert query["code_challenge_method"] == ["S256"]
    assert sorted(query["scope"][0].split()) == list(SCOPES)

    answer = lab.finish(lab.authorize(authorization_url))
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    assert tokens["token_type"] == "Bearer" and tokens["refresh_token"]
    me = lab.me(tokens["access_token"])
    assert me["email"] == "ada@lab.example.org"
    assert me["display_name"] == "Ada Lovelace"
    assert me["status"] == "unverified"  # no allow list: anyone registers, unverified
    [identity] = lab.identities(tokens["access_token"])
    assert identity["provider"] == "github"
    assert identity["subject"] == str(ada.id)  # the id, never the login (it can change)
    assert identity["email"] == "ada@lab.example.org" and identity["email_verified"] is True

    again = lab.signed_in()
    assert lab.me(again)["id"] == me["id"]
    assert len(lab.identities(again)) == 1
    lab.assert_log_shows_no_secret()


def test_an_account_with_the_same_verified_email_is_reached_not_duplicated(
    github: StandInGitHub,
    serve_github: Callable[..., Browser],
    make_account: Callable[..., TestUser],
) -> None:
    github.add_user("ada", email="ada@lab.example.org")
    github.browser_user = "ada"
    lab = serve_github()
    account = make_account(email="ada@lab.example.org")

    token = lab.signed_in()

    me = lab.me(token)
    assert me["id"] == account.id
    assert me["status"] == "active"
    assert [i["provider"] for i in lab.identities(account.token)] == ["github"]


def test_a_github_user_without_a_verified_email_gets_an_account_without_email(
    github: StandInGitHub,
    serve_github: Callable[..., Browser],
    make_account: Callable[..., TestUser],
) -> None:
    github.add_user("grace", email="grace@lab.example.org", email_verified=False)
    github.browser_user = "grace"
    lab = serve_github()
    # an unverified address must not open the account that holds it
    holder = make_account(email="grace@lab.example.org")

    token = lab.signed_in()

    me = lab.me(token)
    assert me["id"] != holder.id
    assert me["email"] is None
    assert me["display_name"] == "grace"  # no name on GitHub: the login
    [identity] = lab.identities(token)
    assert identity["email"] is None and identity["email_verified"] is False
