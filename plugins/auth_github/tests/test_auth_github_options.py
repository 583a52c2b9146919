"""The options of a GitHub sign-in instance, checked with the rest of the config."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from labvault.plugin import ConfigError


def github_app(make_app: Callable[..., Any], **options: Any) -> Any:
    provider = {"type": "github", "client_id": "Iv1.app", "client_secret": "s3cret", **options}
    return make_app(PLUGINS=["auth_github"], AUTH_PROVIDERS={"gh": provider})


def config_problems(make_app: Callable[..., Any], **options: Any) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        github_app(make_app, **options)
    return raised.value.problems


def test_the_provider_is_listed_with_its_label(labvault_make_app: Callable[..., Any]) -> None:
    app = github_app(labvault_make_app, display_name="University GitHub")

    answer = app.test_client().get("/auth/providers")

    assert answer.get_json() == [
        {
            "name": "gh",
            "type": "github",
            "display_name": "University GitHub",
            "login_url": "/auth/gh/login",
        }
    ]


def test_sign_in_starts_at_github_com_by_default(labvault_make_app: Callable[..., Any]) -> None:
    app = github_app(labvault_make_app)

    answer = app.test_client().get("/auth/gh/login")

    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("https://github.com/login/oauth/authorize?")


def test_github_enterprise_is_reached_at_its_own_url(labvault_make_app: Callable[..., Any]) -> None:
    app = github_app(labvault_make_app, web_url="https://ghe.intranet/")

    location = app.test_client().get("/auth/gh/login").headers["Location"]

    parts = urlsplit(location)
    assert (parts.netloc, parts.path) == ("ghe.intranet", "/login/oauth/authorize")


def test_required_options_are_reported(labvault_make_app: Callable[..., Any]) -> None:
    with pytest.raises(ConfigError) as raised:
        labvault_make_app(PLUGINS=["auth_github"], AUTH_PROVIDERS={"gh": {"type": "github"}})

    problems = "\n".join(raised.value.problems)
    assert "AUTH_PROVIDERS.gh.client_id" in problems
    assert "AUTH_PROVIDERS.gh.client_secret" in problems


def test_an_unknown_option_is_reported_with_those_it_takes(
    labvault_make_app: Callable[..., Any],
) -> None:
    [problem] = config_problems(labvault_make_app, allow_list=["ada"])

    assert problem.startswith("AUTH_PROVIDERS.gh.allow_list: unknown option")
    assert "org_allow_list" in problem


@pytest.mark.parametrize("entry", [True, 0, -5, 1.5, "", "  ", {"id": 1}])
def test_an_allow_list_entry_must_be_an_organisation_id_or_name(
    labvault_make_app: Callable[..., Any], entry: Any
) -> None:
    [problem] = config_problems(labvault_make_app, org_allow_list=[123, entry])

    assert problem.startswith("AUTH_PROVIDERS.gh.org_allow_list.1: an organisation id")


def test_a_client_secret_from_an_unset_variable_is_reported(
    labvault_make_app: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LABVAULT_TEST_UNSET_GITHUB_SECRET", raising=False)

    [problem] = config_problems(
        labvault_make_app, client_secret={"env": "LABVAULT_TEST_UNSET_GITHUB_SECRET"}
    )

    assert problem.startswith("AUTH_PROVIDERS.gh.client_secret:")
    assert "LABVAULT_TEST_UNSET_GITHUB_SECRET is not set" in problem
