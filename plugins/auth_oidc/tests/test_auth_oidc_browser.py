"""A sign-in belongs to the browser that started it, and a link is confirmed by a person.

Two people, each with a browser of their own, against a served labvault and the real
stand-in provider: what an attacker prepares in one browser must not sign the other in
(login CSRF), nor add the other's identity to the attacker's account. The last test
does a link in headless Chromium, where a browser's own ``Origin`` and cookies count.
"""

from __future__ import annotations

from typing import Any

import requests
from labvault_auth_oidc.testing import Browser, StandInProvider, bearer, visit_provider

MALLORY = {"sub": "mallory-666", "email": "mallory@evil.example", "email_verified": True}


def account_of(base_url: str, tokens: Any) -> dict[str, Any]:
    answer = requests.get(f"{base_url}/users/me", headers=bearer(tokens["access_token"]))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def identities_of(base_url: str, tokens: Any) -> list[tuple[str, str]]:
    answer = requests.get(f"{base_url}/users/me/identities", headers=bearer(tokens["access_token"]))
    assert answer.status_code == 200, answer.text
    return sorted((identity["provider"], identity["subject"]) for identity in answer.json())


def test_a_callback_url_opened_in_another_browser_signs_nobody_in(serve_oidc, oidc_provider):
    served = serve_oidc()
    attacker, victim = Browser(served.base_url), Browser(served.base_url)
    oidc_provider.user = MALLORY
    # the attacker signs in at the provider and sends the callback URL on, unopened
    callback_url = visit_provider(attacker.start("uni"))

    answer = victim.finish(callback_url)

    assert answer.status_code == 400, answer.text
    assert "started in another browser" in answer.json()["message"]
    assert "access_token" not in answer.text


def test_a_link_someone_else_started_names_their_account_and_links_nothing(
    serve_oidc, oidc_provider, second_provider: StandInProvider
):
    served = serve_oidc({"uni": oidc_provider.options(), "lab": second_provider.options()})
    oidc_provider.user = MALLORY
    mallory = Browser(served.base_url).sign_in("uni")
    victim = Browser(served.base_url)
    # the attacker's script starts a link to their account and sends the URL on
    provider_url = victim.start("lab", bearer=mallory["access_token"])

    page = victim.finish(visit_provider(provider_url))

    assert identities_of(served.base_url, mallory) == [("uni", "mallory-666")]
    assert page.status_code == 200, page.text
    assert page.headers["Content-Type"].startswith("text/html")
    assert "mallory@evil.example" in page.text  # whose account it would join
    assert "a.example@lab.example.net" in page.text  # which identity of the victim
    # posted from another site, the page's form does nothing
    forged = victim.confirm(page, origin="https://evil.example")
    assert forged.status_code == 403, forged.text
    assert identities_of(served.base_url, mallory) == [("uni", "mallory-666")]
    # the victim closes the page; signing in with the lab reaches an account of their own
    own = Browser(served.base_url).sign_in("lab")
    assert account_of(served.base_url, own)["id"] != account_of(served.base_url, mallory)["id"]
    assert identities_of(served.base_url, own) == [("lab", "lab-42")]


def test_a_person_confirms_a_link_in_a_real_browser(
    serve_oidc, oidc_provider, second_provider: StandInProvider, labvault_chromium
):
    served = serve_oidc({"uni": oidc_provider.options(), "lab": second_provider.options()})
    tokens = Browser(served.base_url).sign_in("uni")
    started = requests.get(
        f"{served.base_url}/auth/lab/login",
        params={"link": "true"},
        headers={**bearer(tokens["access_token"]), "Accept": "application/json"},
        timeout=30,
    )
    assert started.status_code == 200, started.text
    context = labvault_chromium.new_context()
    try:
        page = context.new_page()
        violations: list[str] = []
        page.on("console", lambda message: violations.append(message.text))
        page.goto(started.json()["authorization_url"])  # to the provider and back
        assert "alice@example.org" in page.content()
        with page.expect_navigation():
            page.get_by_role("button").click()
        assert page.locator("#access-token").input_value()
    finally:
        context.close()

    assert violations == []
    assert identities_of(served.base_url, tokens) == [("lab", "lab-42"), ("uni", "alice-0001")]
