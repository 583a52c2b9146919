"""The allow list of an ``orcid`` instance: None, [] or a list of ORCID iDs.

| allow_list | a new account                          | an existing account        |
| ---------- | -------------------------------------- | -------------------------- |
| None       | registers, unverified until activated  | signs in                   |
| []         | refused                                | signs in                   |
| a list     | only if listed: registers active       | only while still listed    |
"""

from __future__ import annotations

import requests
from labvault_auth_oidc.testing import Browser, bearer, visit_provider

JOSIAH = "0000-0002-1825-0097"
OTHER = "0000-0001-5109-3700"


def sign_in_as(served, provider, orcid_id: str) -> requests.Response:
    provider.user = {"sub": orcid_id, "given_name": "Some", "family_name": "One"}
    browser = Browser(served.base_url)
    return browser.finish(visit_provider(browser.start("orcid")))


def status_and_items(served, answer: requests.Response) -> tuple[str, int]:
    assert answer.status_code == 200, answer.text
    headers = bearer(answer.json()["access_token"])
    status = requests.get(f"{served.base_url}/users/me", headers=headers).json()["status"]
    return status, requests.get(f"{served.base_url}/items", headers=headers).status_code


def test_without_allow_list_anyone_registers_unverified(serve_orcid, orcid):
    served = serve_orcid()
    assert status_and_items(served, sign_in_as(served, orcid, OTHER)) == ("unverified", 403)


def test_an_empty_allow_list_refuses_new_accounts_but_not_existing_ones(serve_orcid, orcid):
    open_server = serve_orcid()
    assert sign_in_as(open_server, orcid, JOSIAH).status_code == 200
    open_server.stop()
    closed = serve_orcid(allow_list=[])
    newcomer = sign_in_as(closed, orcid, OTHER)
    assert newcomer.status_code == 403
    assert "cannot register" in newcomer.json()["message"]
    assert status_and_items(closed, sign_in_as(closed, orcid, JOSIAH)) == ("unverified", 403)


def test_listed_orcid_ids_register_active_and_others_are_refused(serve_orcid, orcid):
    served = serve_orcid(allow_list=[JOSIAH])
    assert status_and_items(served, sign_in_as(served, orcid, JOSIAH)) == ("active", 200)
    other = sign_in_as(served, orcid, OTHER)
    assert other.status_code == 403
    assert "not on the list" in other.json()["message"]
