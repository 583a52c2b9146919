"""Linking a second provider's identity to an account, and removing identities."""

from __future__ import annotations

import requests
from labvault_auth_oidc.testing import Browser, bearer, visit_provider


def test_a_linked_identity_reaches_the_same_account(serve_oidc, oidc_provider, second_provider):
    served = serve_oidc(
        {
            "uni": oidc_provider.options(),
            "lab": second_provider.options(display_name="Lab login"),
        }
    )
    browser = Browser(served.base_url)
    tokens = browser.sign_in("uni")
    headers = bearer(tokens["access_token"])
    account = requests.get(f"{served.base_url}/users/me", headers=headers).json()

    linking_url = browser.start("lab", bearer=tokens["access_token"])
    assert linking_url.startswith(f"{second_provider.issuer}/authorize?")
    page = browser.finish(visit_provider(linking_url))
    assert page.status_code == 200 and "alice@example.org" in page.text, page.text
    linked = browser.confirm(page)
    assert linked.status_code == 200, linked.text

    identities_url = f"{served.base_url}/users/me/identities"
    identities = requests.get(identities_url, headers=headers).json()
    assert sorted((i["provider"], i["subject"]) for i in identities) == [
        ("lab", "lab-42"),
        ("uni", "alice-0001"),
    ]
    for instance in ("uni", "lab"):
        again = browser.sign_in(instance)
        me = requests.get(f"{served.base_url}/users/me", headers=bearer(again["access_token"]))
        assert me.json()["id"] == account["id"], instance

    uni = next(i["id"] for i in identities if i["provider"] == "uni")
    lab = next(i["id"] for i in identities if i["provider"] == "lab")
    assert requests.delete(f"{identities_url}/{uni}", headers=headers).status_code == 204
    last = requests.delete(f"{identities_url}/{lab}", headers=headers)
    assert last.status_code == 409
    assert [i["provider"] for i in requests.get(identities_url, headers=headers).json()] == ["lab"]
