"""Signing in with ORCID (the stand-in dressed as ORCID): subject, names, no email."""

from __future__ import annotations

import requests
from labvault_auth_oidc.testing import Browser, bearer, query_of, visit_provider

JOSIAH = "0000-0002-1825-0097"


def test_sign_in_with_orcid_reaches_one_account_named_from_the_record(serve_orcid, orcid):
    served = serve_orcid()
    browser = Browser(served.base_url)
    authorization_url = browser.start("orcid")
    sent = query_of(authorization_url)
    assert sent["scope"] == "openid"
    assert sent["client_id"] == "APP-TESTCLIENT00001"
    assert sent["code_challenge_method"] == "S256" and sent["nonce"]
    answer = browser.finish(visit_provider(authorization_url))
    assert answer.status_code == 200, answer.text
    headers = bearer(answer.json()["access_token"])
    me = requests.get(f"{served.base_url}/users/me", headers=headers).json()
    assert (me["display_name"], me["email"], me["status"]) == (
        "Josiah Carberry",
        None,
        "unverified",
    )
    identities = requests.get(f"{served.base_url}/users/me/identities", headers=headers).json()
    assert [(i["provider"], i["subject"], i["email"]) for i in identities] == [
        ("orcid", JOSIAH, None)
    ]
    again = browser.sign_in("orcid")
    assert (
        requests.get(f"{served.base_url}/users/me", headers=bearer(again["access_token"])).json()[
            "id"
        ]
        == me["id"]
    )


def test_orcid_is_listed_with_its_name(serve_orcid):
    served = serve_orcid()
    providers = requests.get(f"{served.base_url}/auth/providers").json()
    assert [(p["name"], p["type"], p["display_name"]) for p in providers] == [
        ("orcid", "orcid", "ORCID")
    ]


def test_the_log_holds_no_code_state_or_token(serve_orcid, orcid):
    served = serve_orcid()
    browser = Browser(served.base_url)
    authorization_url = browser.start("orcid")
    callback_url = visit_provider(authorization_url)
    tokens = browser.finish(callback_url).json()
    sent, returned = query_of(authorization_url), query_of(callback_url)
    seen = [sent["state"], sent["nonce"], sent["code_challenge"], returned["code"]]
    seen += [tokens["access_token"], tokens["refresh_token"], orcid.client_secret, *orcid.issued]
    log = served.log()
    assert [secret for secret in seen if secret in log] == []
