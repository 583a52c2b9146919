"""Signing in through an OpenID Connect provider: every refusal, each on its own.

Each test walks a browser to the point where one thing is wrong and checks what the
person signing in gets: the status code and a message that says what happened.
"""

from __future__ import annotations

import datetime as dt

import pytest
import requests
from labvault_auth_oidc.testing import Browser, bearer, query_of, visit_provider


def refused(browser: Browser, callback_url: str, status: int, *words: str) -> None:
    answer = browser.finish(callback_url)
    assert answer.status_code == status, answer.text
    message = answer.json()["message"]
    for word in words:
        assert word in message, message


def with_state(callback_url: str, state: str) -> str:
    return callback_url.replace(f"state={query_of(callback_url)['state']}", f"state={state}")


def test_an_unknown_state_is_refused(serve_oidc):
    browser = Browser(serve_oidc().base_url)
    callback_url = visit_provider(browser.start("uni"))
    refused(browser, with_state(callback_url, "made-up-state"), 400, "unknown")


def test_a_replayed_callback_is_refused(serve_oidc):
    browser = Browser(serve_oidc().base_url)
    callback_url = visit_provider(browser.start("uni"))
    assert browser.finish(callback_url).status_code == 200
    refused(browser, callback_url, 400, "already finished")


def test_an_expired_state_is_refused(labvault_make_app, oidc_provider, labvault_clock):
    """A sign-in lasts 10 minutes: one finished after 9 lands, one after 11 is refused
    (in this process, whose time the clock moves; two browsers, one sign-in each)."""
    app = labvault_make_app(PLUGINS=["auth_oidc"], AUTH_PROVIDERS={"uni": oidc_provider.options()})
    callbacks = []
    for browser in (quick := app.test_client(), late := app.test_client()):
        login = browser.get("/auth/uni/login")
        assert login.status_code == 302, login.json
        callbacks.append(visit_provider(login.headers["Location"]))
    json = {"Accept": "application/json"}

    labvault_clock.advance(dt.timedelta(minutes=9))
    assert quick.get(callbacks[0], headers=json).status_code == 200
    labvault_clock.advance(dt.timedelta(minutes=2))
    answer = late.get(callbacks[1], headers=json)
    assert answer.status_code == 400 and "expired" in answer.json["message"]


def test_a_used_authorization_code_is_refused_in_a_new_sign_in(serve_oidc):
    browser = Browser(serve_oidc().base_url)
    first_callback = visit_provider(browser.start("uni"))
    assert browser.finish(first_callback).status_code == 200
    # a new sign-in (its own state, nonce and PKCE verifier) carrying the spent code
    new_state = query_of(browser.start("uni"))["state"]
    refused(browser, with_state(first_callback, new_state), 401, "refused the sign-in code")


@pytest.mark.parametrize(
    ("flaw", "words"),
    [
        ("forged", "does not match the provider's keys"),
        ("expired", "expired"),
        ("wrong_nonce", "belongs to another sign-in"),
        ("wrong_audience", "issued to another application"),
        ("wrong_issuer", "issued by another provider"),
    ],
)
def test_an_id_token_failing_a_check_is_refused(serve_oidc, oidc_provider, flaw, words):
    browser = Browser(serve_oidc().base_url)
    oidc_provider.flaw = flaw
    refused(browser, visit_provider(browser.start("uni")), 401, "id_token", words)
    oidc_provider.flaw = None  # the same provider, behaving again, signs in fine
    assert browser.sign_in("uni")["access_token"]


def test_next_outside_the_allowed_origins_is_refused_at_login(serve_oidc):
    served = serve_oidc()
    answer = requests.get(
        f"{served.base_url}/auth/uni/login",
        params={"next": "https://evil.example/steal"},
        allow_redirects=False,
    )
    assert answer.status_code == 422
    assert "ALLOWED_REDIRECT_ORIGINS" in answer.json()["message"]


def test_a_deactivated_account_cannot_sign_in(serve_oidc, admin_token):
    served = serve_oidc()
    browser = Browser(served.base_url)
    tokens = browser.sign_in("uni")
    user_id = requests.get(f"{served.base_url}/users/me", headers=bearer(tokens["access_token"]))
    url = f"{served.base_url}/users/{user_id.json()['id']}"
    etag = requests.get(url, headers=bearer(admin_token)).headers["ETag"]
    changed = requests.patch(
        url, json={"status": "deactivated"}, headers={**bearer(admin_token), "If-Match": etag}
    )
    assert changed.status_code == 200, changed.text
    refused(browser, visit_provider(browser.start("uni")), 403, "deactivated")


def test_the_provider_refusing_is_shown(serve_oidc, oidc_provider):
    browser = Browser(serve_oidc().base_url)
    oidc_provider.refuse = True
    callback_url = visit_provider(browser.start("uni"))
    assert query_of(callback_url)["error"] == "access_denied"
    refused(browser, callback_url, 403, "did not sign you in")
