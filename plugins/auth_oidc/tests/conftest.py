"""Fixtures of the auth_oidc tests: a served labvault signing in through the stand-in."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from labvault_auth_oidc.testing import StandInProvider, oidc_provider  # noqa: F401

#: Where the tests' single-page app lives: tokens may be sent there, and nowhere else.
APP_ORIGIN = "https://app.example.org"


@pytest.fixture
def serve_oidc(
    labvault_serve: Callable[..., Any],
    oidc_provider: StandInProvider,  # noqa: F811 (the fixture)
) -> Callable[..., Any]:
    """Factory: a labvault (gunicorn, 2 workers) with ``AUTH_PROVIDERS`` (default: the
    stand-in as instance "uni", its options plus the keyword arguments)."""

    def serve(providers: dict[str, Any] | None = None, **uni: Any) -> Any:
        return labvault_serve(
            workers=2,
            PLUGINS=["auth_oidc"],
            AUTH_PROVIDERS=providers or {"uni": oidc_provider.options(**uni)},
            ALLOWED_REDIRECT_ORIGINS=[APP_ORIGIN],
        )

    return serve


@pytest.fixture
def second_provider() -> Iterator[StandInProvider]:
    """Another stand-in provider (another issuer), signing in another person."""
    provider = StandInProvider(
        client_id="labvault-lab",
        user={"sub": "lab-42", "email": "a.example@lab.example.net", "email_verified": True},
    ).start()
    yield provider
    provider.stop()


@pytest.fixture
def admin_token(labvault_make_app: Callable[..., Any], labvault_make_user: Any) -> str:
    """The bearer token of an admin, made in the database the served labvault uses."""
    app = labvault_make_app()
    return str(labvault_make_user(app, role="admin").token)
