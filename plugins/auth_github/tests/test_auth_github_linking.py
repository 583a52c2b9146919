"""Adding a GitHub identity to an account someone is signed in to."""

from __future__ import annotations

from collections.abc import Callable

from auth_github_browser import Browser, assert_refused
from auth_github_stand_in import StandInGitHub
from labvault.testing import TestUser


def test_a_signed_in_user_links_their_github_account(
    github: StandInGitHub,
    serve_github: Callable[..., Browser],
    make_account: Callable[..., TestUser],
) -> None:
    ada = github.add_user("ada", email="ada.private@example.com")  # not the account's email
    github.browser_user = "ada"
    lab = serve_github()
    account = make_account(email="ada@lab.example.org")

    answer = lab.finish(lab.authorize(lab.login(link_token=account.token)))

    assert answer.status_code == 200, answer.text
    [identity] = lab.identities(account.token)
    assert (identity["provider"], identity["subject"]) == ("github", str(ada.id))
    # from now on signing in with GitHub reaches that account
    assert lab.me(lab.signed_in())["id"] == account.id
    lab.assert_log_shows_no_secret()


def test_a_github_account_linked_to_another_account_cannot_be_linked_again(
    github: StandInGitHub,
    serve_github: Callable[..., Browser],
    make_account: Callable[..., TestUser],
) -> None:
    github.add_user("ada", email="ada@lab.example.org")
    github.browser_user = "ada"
    lab = serve_github()
    lab.signed_in()  # the GitHub identity now has an account of its own
    other = make_account(email="someone.else@lab.example.org")

    answer = lab.sign_in(link_token=other.token)

    assert_refused(answer, 409, "already linked to another labvault account")
    assert lab.identities(other.token) == []
