"""Signing in through an OpenID Connect provider: the ways it works."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests
from labvault_auth_oidc.testing import Browser, bearer, query_of, visit_provider

APP = "https://app.example.org/signed-in"


def test_login_redirects_to_the_provider_with_state_nonce_and_pkce(serve_oidc, oidc_provider):
    served = serve_oidc()
    authorization_url = Browser(served.base_url).start("uni")
    assert authorization_url.startswith(f"{oidc_provider.issuer}/authorize?")
    sent = query_of(authorization_url)
    assert sent["response_type"] == "code"
    assert sent["client_id"] == oidc_provider.client_id
    assert sent["redirect_uri"] == f"{served.base_url}/auth/uni/callback"
    assert sent["scope"].split() == ["openid", "email", "profile"]
    assert sent["code_challenge_method"] == "S256"
    assert len(sent["code_challenge"]) == 43  # base64url of a SHA-256 digest
    assert sent["state"] and sent["nonce"] and sent["state"] != sent["nonce"]


def test_sign_in_answers_json_tokens_for_the_new_account(serve_oidc):
    served = serve_oidc()
    browser = Browser(served.base_url)
    answer = browser.finish(visit_provider(browser.start("uni")))
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    assert tokens["token_type"] == "Bearer" and tokens["refresh_token"]
    me = requests.get(f"{served.base_url}/users/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200
    assert me.json()["display_name"] == "Alice Example"
    assert me.json()["email"] == "alice@example.org"
    assert me.json()["status"] == "unverified"  # no allow list: anyone registers, unverified


def test_a_browser_gets_a_page_with_the_access_token(serve_oidc):
    browser = Browser(serve_oidc().base_url)
    answer = browser.finish(visit_provider(browser.start("uni")), accept_json=False)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/html")
    assert 'id="access-token"' in answer.text
    assert answer.headers["Cache-Control"] == "no-store"


def test_next_on_an_allowed_origin_gets_the_tokens_in_the_fragment(serve_oidc):
    served = serve_oidc()
    browser = Browser(served.base_url)
    callback_url = visit_provider(browser.start("uni", next_url=APP))
    answer = browser.finish(callback_url, accept_json=False)
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == APP
    fragment = {name: values[0] for name, values in parse_qs(location.fragment).items()}
    me = requests.get(f"{served.base_url}/users/me", headers=bearer(fragment["access_token"]))
    assert me.status_code == 200 and me.json()["email"] == "alice@example.org"


def test_a_second_sign_in_reaches_the_same_account(serve_oidc):
    served = serve_oidc()
    first = Browser(served.base_url).sign_in("uni")
    second = Browser(served.base_url).sign_in("uni")
    accounts = [
        requests.get(f"{served.base_url}/users/me", headers=bearer(t["access_token"])).json()
        for t in (first, second)
    ]
    assert accounts[0]["id"] == accounts[1]["id"]
    identities = requests.get(
        f"{served.base_url}/users/me/identities", headers=bearer(second["access_token"])
    ).json()
    assert [(i["provider"], i["subject"]) for i in identities] == [("uni", "alice-0001")]
