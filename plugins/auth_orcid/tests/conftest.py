"""Fixtures of the auth_orcid tests: the OpenID stand-in, dressed as ORCID."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from labvault_auth_oidc.testing import StandInProvider, oidc_provider  # noqa: F401

JOSIAH = "0000-0002-1825-0097"  # ORCID's own example iD (Josiah Carberry)


@pytest.fixture
def orcid(oidc_provider: StandInProvider) -> StandInProvider:  # noqa: F811 (the fixture)
    """The stand-in as ORCID answers: ORCID iD as subject, names, no email, and a token
    endpoint that takes the client secret in the body only."""
    oidc_provider.client_id = "APP-TESTCLIENT00001"
    oidc_provider.auth_methods = ("client_secret_post",)
    oidc_provider.user = {"sub": JOSIAH, "given_name": "Josiah", "family_name": "Carberry"}
    return oidc_provider


def orcid_options(provider: StandInProvider, **extra: Any) -> dict[str, Any]:
    return {
        "type": "orcid",
        "client_id": provider.client_id,
        "client_secret": provider.client_secret,
        "issuer": provider.issuer,  # the stand-in, in place of https://orcid.org
        **extra,
    }


@pytest.fixture
def serve_orcid(labvault_serve: Callable[..., Any], orcid: StandInProvider) -> Callable[..., Any]:
    """Factory: a labvault (gunicorn, 2 workers) with the instance "orcid" (its options
    plus the keyword arguments), or the ``providers`` given."""

    def serve(providers: dict[str, Any] | None = None, **options: Any) -> Any:
        return labvault_serve(
            workers=2,
            PLUGINS=["auth_oidc", "auth_orcid"],
            AUTH_PROVIDERS=providers or {"orcid": orcid_options(orcid, **options)},
        )

    return serve
