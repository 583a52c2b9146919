"""The provider's own behaviour, in one process (the app's test client) against the real
stand-in over HTTP: client authentication, claim options, caching, provider failures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from labvault_auth_oidc.testing import StandInProvider, visit_provider


@pytest.fixture
def make_client(
    labvault_make_app: Callable[..., Any], oidc_provider: StandInProvider
) -> Callable[..., Any]:
    """Factory: a test client of an app with the stand-in as "uni" (plus ``options``)."""

    def make(**options: Any) -> Any:
        app = labvault_make_app(
            PLUGINS=["auth_oidc"], AUTH_PROVIDERS={"uni": oidc_provider.options(**options)}
        )
        return app.test_client()

    return make


def sign_in(client: Any) -> Any:
    """A whole sign-in through the test client: the callback's answer."""
    login = client.get("/auth/uni/login")
    assert login.status_code == 302, login.json
    return client.get(
        visit_provider(login.headers["Location"]), headers={"Accept": "application/json"}
    )


def identity(client: Any, answer: Any) -> dict[str, Any]:
    assert answer.status_code == 200, answer.json
    headers = {"Authorization": f"Bearer {answer.json['access_token']}"}
    (only,) = client.get("/users/me/identities", headers=headers).json
    return dict(only)


def test_a_public_client_signs_in_with_pkce_alone(make_client, oidc_provider):
    oidc_provider.client_secret = None
    client = make_client()
    assert sign_in(client).status_code == 200


def test_a_provider_that_takes_the_secret_only_in_the_body(make_client, oidc_provider):
    oidc_provider.auth_methods = ("client_secret_post",)  # as ORCID's token endpoint
    assert sign_in(make_client()).status_code == 200


def test_a_wrong_client_secret_is_a_bad_gateway(make_client):
    answer = sign_in(make_client(client_secret="not-the-secret"))
    assert answer.status_code == 502
    assert "invalid_client" in answer.json["message"]


def test_claims_are_read_through_the_claim_options(make_client, oidc_provider):
    oidc_provider.user = {
        "sub": "not-this-one",
        "employee_id": "E-1234",
        "mail": "carla@example.org",
        "mail_ok": "true",  # some providers send booleans as strings
        "given_name": "Carla",
        "family_name": "Rossi",
    }
    client = make_client(
        subject_claim="employee_id", email_claim="mail", email_verified_claim="mail_ok"
    )
    found = identity(client, sign_in(client))
    assert (found["subject"], found["email"], found["email_verified"], found["display_name"]) == (
        "E-1234",
        "carla@example.org",
        True,
        "Carla Rossi",
    )


def test_an_email_without_verified_claim_is_unverified(make_client, oidc_provider):
    oidc_provider.user = {"sub": "s-2", "email": "dan@example.org", "name": "Dan"}
    client = make_client()
    found = identity(client, sign_in(client))
    assert (found["email"], found["email_verified"]) == ("dan@example.org", False)


def test_discovery_and_keys_are_fetched_once(make_client, oidc_provider):
    client = make_client()
    for _ in range(3):
        assert sign_in(client).status_code == 200
    assert oidc_provider.hits["/.well-known/openid-configuration"] == 1
    assert oidc_provider.hits["/jwks"] == 1


def test_a_rotated_signing_key_is_fetched_once_its_kid_is_unknown(make_client, oidc_provider):
    client = make_client()
    assert sign_in(client).status_code == 200
    oidc_provider.rotate_key()
    assert sign_in(client).status_code == 200
    assert sign_in(client).status_code == 200
    assert oidc_provider.hits["/jwks"] == 2


def test_a_provider_that_cannot_be_reached_is_a_bad_gateway(make_client, oidc_provider):
    client = make_client()
    issuer = oidc_provider.issuer
    oidc_provider.stop()
    answer = client.get("/auth/uni/login")
    assert answer.status_code == 502
    assert issuer in answer.json["message"] and "cannot be reached" in answer.json["message"]


def test_a_discovery_document_of_another_issuer_is_refused(make_client, oidc_provider):
    oidc_provider.announced_issuer = "https://impostor.example"
    answer = make_client().get("/auth/uni/login")
    assert answer.status_code == 502
    assert "names another issuer" in answer.json["message"]


def test_a_callback_without_code_is_refused(make_client):
    client = make_client()
    login = client.get("/auth/uni/login")
    callback = visit_provider(login.headers["Location"])
    without_code = callback.split("&code=")[0]
    answer = client.get(without_code, headers={"Accept": "application/json"})
    assert answer.status_code == 401
    assert "no sign-in code" in answer.json["message"]


def test_linking_needs_a_bearer_token(make_client):
    answer = make_client().get("/auth/uni/login?link=true", headers={"Accept": "application/json"})
    assert answer.status_code == 401
    assert "bearer token" in answer.json["message"]
