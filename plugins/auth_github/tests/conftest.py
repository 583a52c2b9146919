"""Fixtures: a stand-in GitHub, and labvault served (gunicorn, 2 workers) signing in
through it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from auth_github_browser import CLIENT_APP, Browser
from auth_github_stand_in import CLIENT_ID, CLIENT_SECRET, StandInGitHub
from labvault.testing import TestUser

SECRET_VARIABLE = "LABVAULT_TEST_GITHUB_CLIENT_SECRET"


@pytest.fixture
def github() -> Iterator[StandInGitHub]:
    stand_in = StandInGitHub(CLIENT_ID, CLIENT_SECRET)
    yield stand_in
    stand_in.stop()


@pytest.fixture
def serve_github(
    labvault_serve: Callable[..., Any], github: StandInGitHub
) -> Callable[..., Browser]:
    """Factory: ``serve_github(**options)`` serves labvault with a GitHub sign-in instance
    "github" (``options`` added to its config) and returns a browser for it;
    ``more_instances`` ({name: options}) configures further instances beside it."""

    def provider(**options: Any) -> dict[str, Any]:
        return {
            "type": "github",
            "client_id": CLIENT_ID,
            "client_secret": {"env": SECRET_VARIABLE},
            "web_url": github.base_url,
            "api_url": github.api_url,
            "timeout": 5,
            **options,
        }

    def serve(
        more_instances: Mapping[str, Mapping[str, Any]] | None = None, **options: Any
    ) -> Browser:
        instances = {"github": options, **(more_instances or {})}
        served = labvault_serve(
            workers=2,
            env={SECRET_VARIABLE: CLIENT_SECRET},
            PLUGINS=["auth_github"],
            AUTH_PROVIDERS={name: provider(**config) for name, config in instances.items()},
            ALLOWED_REDIRECT_ORIGINS=[CLIENT_APP],
        )
        # the callback URLs the OAuth app is registered with, as the README says
        github.callback_urls = {f"{served.base_url}/auth/{name}/callback" for name in instances}
        return Browser(served, github, "github")

    return serve


@pytest.fixture
def make_account(
    labvault_make_app: Callable[..., Any], labvault_make_user: Callable[..., TestUser]
) -> Callable[..., TestUser]:
    """Factory: ``make_account(email=..., status=...)`` makes an account in the database
    the served labvault uses (an app of the core alone, on the same settings)."""
    apps: list[Any] = []

    def make(**user: Any) -> TestUser:
        if not apps:
            apps.append(labvault_make_app())
        return labvault_make_user(apps[0], **user)

    return make
