"""Linking a second provider's identity to an account, and removing identities."""

from __future__ import annotations

import requests
from labvault_auth_oidc.testing import (
    bearer,
    finish_sign_in,
    sign_in,
    start_sign_in,
    visit_provider,
)


def test_a_linked_identity_reaches_the_same_account(serve_oidc, oidc_provider, second_provider):
    served = serve_oidc(
        {
            "uni": oidc_provider.options(),
            "lab": second_provider.options(display_name="Lab login"),
        }
    )
    tokens = sign_in(served.base_url, "uni")
    headers = bearer(tokens["access_token"])
    account = requests.get(f"{served.base_url}/users/me", headers=headers).json()

    linking_url = start_sign_in(served.base_url, "lab", bearer=tokens["access_token"])
    assert linking_url.startswith(f"{second_provider.issuer}/authorize?")
    linked = finish_sign_in(visit_provider(linking_url))
    assert linked.status_code == 200, linked.text

    identities_url = f"{served.base_url}/users/me/identities"
    identities = requests.get(identities_url, headers=headers).json()
    assert sorted((i["provider"], i["subject"]) for i in identities) == [
        ("lab", "lab-42"),
        ("uni", "alice-0001"),
    ]
    for instance in ("uni", "lab"):
        again = sign_in(served.base_url, instance)
        me = requests.get(f"{served.base_url}/users/me", headers=bearer(again["access_token"]))
        assert me.json()["id"] == account["id"], instance

    uni = next(i["id"] for i in identities if i["provider"] == "uni")
    lab = next(i["id"] for i in identities if i["provider"] == "lab")
    assert requests.delete(f"{identities_url}/{uni}", headers=headers).status_code == 204
    last = requests.delete(f"{identities_url}/{lab}", headers=headers)
    assert last.status_code == 409
    assert [i["provider"] for i in requests.get(identities_url, headers=headers).json()] == ["lab"]
