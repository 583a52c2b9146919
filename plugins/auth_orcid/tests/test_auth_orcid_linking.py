"""Linking ORCID to an account that signs in with a university's OpenID provider."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from labvault_auth_oidc.testing import Browser, StandInProvider, bearer

JOSIAH = "0000-0002-1825-0097"


@pytest.fixture
def university() -> Iterator[StandInProvider]:
    provider = StandInProvider(client_id="labvault-uni").start()
    yield provider
    provider.stop()


def test_orcid_linked_to_a_university_account_reaches_it(serve_orcid, orcid, university):
    served = serve_orcid(
        {
            "uni": university.options(),
            "orcid": {
                "type": "orcid",
                "client_id": orcid.client_id,
                "client_secret": orcid.client_secret,
                "issuer": orcid.issuer,
            },
        }
    )
    browser = Browser(served.base_url)
    tokens = browser.sign_in("uni")
    headers = bearer(tokens["access_token"])
    account_id = requests.get(f"{served.base_url}/users/me", headers=headers).json()["id"]

    linked = bearer(browser.sign_in("orcid", bearer=tokens["access_token"])["access_token"])
    assert requests.get(f"{served.base_url}/users/me", headers=linked).json()["id"] == account_id

    identities_url = f"{served.base_url}/users/me/identities"
    identities = requests.get(identities_url, headers=headers).json()
    assert sorted((i["provider"], i["subject"]) for i in identities) == [
        ("orcid", JOSIAH),
        ("uni", "alice-0001"),
    ]
    for instance in ("orcid", "uni"):
        again = bearer(browser.sign_in(instance)["access_token"])
        assert requests.get(f"{served.base_url}/users/me", headers=again).json()["id"] == account_id

    by_provider = {i["provider"]: i["id"] for i in identities}
    assert (
        requests.delete(f"{identities_url}/{by_provider['uni']}", headers=headers).status_code
        == 204
    )
    last = requests.delete(f"{identities_url}/{by_provider['orcid']}", headers=headers)
    assert last.status_code == 409
