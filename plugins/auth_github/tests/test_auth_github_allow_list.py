"""The allow-list table: None lets anyone register (unverified), [] lets no new account
register, and a list of organisations lets in only their members, at every sign-in."""

from __future__ import annotations

from collections.abc import Callable

from auth_github_browser import Browser, assert_refused
from auth_github_stand_in import StandInGitHub
from labvault.testing import TestUser

CURIE_LAB = (7_310_001, "Curie-Lab")
OTHER_ORG = (7_310_002, "some-other-org")


def test_no_allow_list_registers_anyone_unverified(
    github: StandInGitHub, serve_github: Callable[..., Browser]
) -> None:
    github.add_user("ada", email="ada@lab.example.org")
    github.browser_user = "ada"
    lab = serve_github()  # org_allow_list defaults to None

    token = lab.signed_in()

    assert lab.me(token)["status"] == "unverified"
    items = lab.get("/items", token=token)
    assert items.status_code == 403
    assert "waiting for an admin to activate it" in items.json()["message"]


def test_an_empty_allow_list_refuses_new_accounts(
    github: StandInGitHub, serve_github: Callable[..., Browser]
) -> None:
    github.add_user("ada", email="ada@lab.example.org", orgs=[CURIE_LAB])
    github.browser_user = "ada"
    lab = serve_github(org_allow_list=[])

    assert_refused(lab.sign_in(), 403, "new accounts cannot register here")


def test_an_empty_allow_list_still_lets_in_an_account_with_the_same_verified_email(
    github: StandInGitHub,
    serve_github: Callable[..., Browser],
    make_account: Callable[..., TestUser],
) -> None:
    github.add_user("ada", email="ada@lab.example.org")
    github.browser_user = "ada"
    lab = serve_github(org_allow_list=[])
    account = make_account(email="ada@lab.example.org")

    token = lab.signed_in()

    assert lab.me(token)["id"] == account.id


def test_an_empty_allow_list_still_lets_in_an_identity_linked_earlier(
    github: StandInGitHub,
    serve_github: Callable[..., Browser],
    make_account: Callable[..., TestUser],
) -> None:
    github.add_user("grace")  # no email at all: only the linked identity finds the account
    github.browser_user = "grace"
    lab = serve_github(org_allow_list=[])
    account = make_account()
    linked = lab.sign_in(link_token=account.token)
    assert linked.status_code == 200, linked.text

    token = lab.signed_in()

    assert lab.me(token)["id"] == account.id


def test_a_member_of_an_organisation_listed_by_id_gets_an_active_account(
    github: StandInGitHub, serve_github: Callable[..., Browser]
) -> None:
    ada = github.add_user("ada", email="ada@lab.example.org", orgs=[OTHER_ORG, CURIE_LAB])
    github.browser_user = "ada"
    github.max_per_page = 1  # her membership is on the second page of /user/orgs
    lab = serve_github(org_allow_list=[CURIE_LAB[0]])

    token = lab.signed_in()

    assert lab.me(token)["status"] == "active"
    assert lab.get("/items", token=token).status_code == 200
    org_pages = [path for path in github.api_requests if path.startswith("/api/v3/user/orgs")]
    assert org_pages == ["/api/v3/user/orgs?per_page=100", "/api/v3/user/orgs?per_page=1&page=2"]
    # membership is checked at every sign-in: after she leaves, she is refused
    ada.orgs = [ada.orgs[0]]
    assert_refused(lab.sign_in(), 403, "you are not on the list of who may sign in here")


def test_an_organisation_listed_by_name_matches_case_insensitively(
    github: StandInGitHub, serve_github: Callable[..., Browser]
) -> None:
    github.add_user("ada", email="ada@lab.example.org", orgs=[CURIE_LAB])
    github.browser_user = "ada"
    lab = serve_github(org_allow_list=["curie-LAB"])

    token = lab.signed_in()

    assert lab.me(token)["status"] == "active"


def test_a_non_member_of_the_listed_organisations_is_refused(
    github: StandInGitHub, serve_github: Callable[..., Browser]
) -> None:
    github.add_user("mallory", email="mallory@example.com", orgs=[OTHER_ORG])
    github.browser_user = "mallory"
    lab = serve_github(org_allow_list=[CURIE_LAB[0], "another-lab"])

    assert_refused(lab.sign_in(), 403, "you are not on the list of who may sign in here")
