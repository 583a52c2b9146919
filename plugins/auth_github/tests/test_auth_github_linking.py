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

    page = lab.finish(lab.authorize(lab.login(link_token=account.token)))
    assert page.status_code == 200, page.text
    assert "ada@lab.example.org" in page.text and "ada.private@example.com" in page.text
    assert lab.identities(account.token) == []  # nothing is linked before the button

    answer = lab.confirm(page)

    assert answer.status_code == 200, answer.text
    assert lab.me(answer.json()["access_token"])["id"] == account.id
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


def test_a_link_someone_else_started_is_shown_to_the_victim_and_not_made(
    github: StandInGitHub,
    serve_github: Callable[..., Browser],
    make_account: Callable[..., TestUser],
) -> None:
    victim_on_github = github.add_user("vic", email="vic@lab.example.org")
    github.browser_user = "vic"  # the victim is signed in at GitHub in their browser
    lab = serve_github()
    mallory = make_account(email="mallory@evil.example")
    victim = lab.elsewhere()

    # Mallory's script starts a link to Mallory's account; the victim opens the URL
    page = victim.finish(victim.authorize(victim.login(link_token=mallory.token)))

    assert lab.identities(mallory.token) == []
    assert page.status_code == 200, page.text
    assert "mallory@evil.example" in page.text and "vic@lab.example.org" in page.text
    assert_refused(victim.confirm(page, origin="https://evil.example"), 403, "another site")
    assert lab.identities(mallory.token) == []
    # the victim closes the page: their GitHub sign-in reaches an account of their own
    token = victim.signed_in()
    assert lab.me(token)["id"] != mallory.id
    assert [i["subject"] for i in lab.identities(token)] == [str(victim_on_github.id)]
    lab.assert_log_shows_no_secret()
