"""Apps with the plugin enabled, and a sign-in provider that knows people by ORCID iD
(as auth_orcid does), so that exports name authors by it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest
from labvault.plugin import AuthProvider, Identity, hookimpl

LABVAULT_PLUGIN_API = ">=2.0,<3"


class OrcidLike(AuthProvider):
    """Knows people by ORCID iD; signs nobody in by itself (tests hand it identities)."""

    name = "orcid_like"

    def person_identifier(self, subject: str) -> str | None:
        return f"https://orcid.org/{subject}"


@hookimpl
def labvault_auth_provider_types() -> list[type[AuthProvider]]:
    return [OrcidLike]


@pytest.fixture
def app(labvault_make_app: Callable[..., Any]) -> Any:
    """An app with the .eln format and the ORCID-like provider."""
    return labvault_make_app(
        PLUGINS=["interchange_eln"],
        plugins={"orcid_like": sys.modules[__name__]},
        AUTH_PROVIDERS={"orcid": {"type": "orcid_like"}},
    )


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


def link_orcid(app: Any, user: Any, orcid: str) -> None:
    """Link an ORCID identity to ``user``'s account, as a sign-in with ORCID does."""
    host = app.extensions["labvault"].plugins.hosts["orcid_like"]
    with app.app_context():
        host.sign_in(Identity("orcid", orcid), link_user_id=user.id)
