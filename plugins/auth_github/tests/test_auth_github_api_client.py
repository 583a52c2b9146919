"""The GitHub API client on its own, for what no sign-in through labvault can show."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from auth_github_stand_in import CLIENT_ID, CLIENT_SECRET, StandInGitHub
from labvault.plugin import Unavailable
from labvault_auth_github.github_api import GitHubClient


@pytest.fixture
def elsewhere() -> Iterator[StandInGitHub]:
    """Another server, which must never see a GitHub token."""
    other = StandInGitHub(CLIENT_ID, CLIENT_SECRET)
    yield other
    other.stop()


def client_of(github: StandInGitHub) -> GitHubClient:
    return GitHubClient(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        web_url=github.base_url,
        api_url=github.api_url,
        timeout=5,
        label="GitHub",
        logger=logging.getLogger("test_auth_github"),
    )


def test_pages_of_organisations_are_read_until_the_last(github: StandInGitHub) -> None:
    orgs = [(org_id, f"org-{org_id}") for org_id in range(1, 8)]
    github.add_user("ada", orgs=orgs)
    github.max_per_page = 3

    account = client_of(github).account(github.issue_token("ada"))

    assert [(org.id, org.login) for org in account.organisations] == orgs
    assert sum(path.startswith("/api/v3/user/orgs") for path in github.api_requests) == 3


def test_a_next_page_on_another_server_is_not_followed(
    github: StandInGitHub, elsewhere: StandInGitHub
) -> None:
    github.add_user("ada", orgs=[(1, "first"), (2, "second")])
    github.max_per_page = 1
    github.next_page_api_url = elsewhere.api_url

    with pytest.raises(Unavailable, match="GitHub could not be reached"):
        client_of(github).account(github.issue_token("ada"))

    assert elsewhere.api_requests == []  # the token went nowhere else
