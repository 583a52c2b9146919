"""The allow list of an ``oidc`` instance: None, [] and a list of subjects and @domains.

| allow_list | a new account                          | an existing account        |
| ---------- | -------------------------------------- | -------------------------- |
| None       | registers, unverified until activated  | signs in                   |
| []         | refused                                | signs in                   |
| a list     | only if listed: registers active       | only while still listed    |
"""

from __future__ import annotations

import requests
from labvault_auth_oidc.testing import Browser, bearer, visit_provider


def sign_in_as(served, provider, **user) -> requests.Response:
    provider.user = user
    browser = Browser(served.base_url)
    return browser.finish(visit_provider(browser.start("uni")))


def account_and_items(served, answer: requests.Response) -> tuple[str, int]:
    """(the account's status, the status code of GET /items) after a sign-in."""
    assert answer.status_code == 200, answer.text
    headers = bearer(answer.json()["access_token"])
    me = requests.get(f"{served.base_url}/users/me", headers=headers)
    assert me.status_code == 200
    return me.json()["status"], requests.get(
        f"{served.base_url}/items", headers=headers
    ).status_code


def test_without_allow_list_anyone_registers_unverified(serve_oidc, oidc_provider):
    served = serve_oidc()
    answer = sign_in_as(served, oidc_provider, sub="someone", name="Some One")
    assert account_and_items(served, answer) == ("unverified", 403)


def test_an_empty_allow_list_refuses_new_accounts_but_not_existing_ones(serve_oidc, oidc_provider):
    open_server = serve_oidc()
    Browser(open_server.base_url).sign_in("uni")  # alice registers while registration is open
    open_server.stop()
    closed = serve_oidc(allow_list=[])
    newcomer = sign_in_as(closed, oidc_provider, sub="bob-2", email="bob@example.org")
    assert newcomer.status_code == 403
    assert "cannot register" in newcomer.json()["message"]
    alice = sign_in_as(closed, oidc_provider, sub="alice-0001", email="alice@example.org")
    assert account_and_items(closed, alice) == ("unverified", 403)


def test_a_listed_subject_registers_active_and_others_are_refused(serve_oidc, oidc_provider):
    served = serve_oidc(allow_list=["alice-0001"])
    alice = sign_in_as(served, oidc_provider, sub="alice-0001", name="Alice")
    assert account_and_items(served, alice) == ("active", 200)
    bob = sign_in_as(
        served, oidc_provider, sub="bob-2", email="bob@example.org", email_verified=True
    )
    assert bob.status_code == 403
    assert "not on the list" in bob.json()["message"]


def test_a_domain_entry_admits_verified_emails_in_it_and_its_subdomains(serve_oidc, oidc_provider):
    served = serve_oidc(allow_list=["@example.org"])
    for sub, email in [("a-1", "a@example.org"), ("c-3", "c@chem.example.org")]:
        answer = sign_in_as(served, oidc_provider, sub=sub, email=email, email_verified=True)
        assert account_and_items(served, answer) == ("active", 200)


def test_a_domain_entry_compares_addresses_in_their_normal_form(serve_oidc, oidc_provider):
    """NFKC and case-folded, as labvault keeps every address: fullwidth letters are ASCII,
    case does not count, accents do."""
    served = serve_oidc(allow_list=["@Example.org"])
    fullwidth = "E@chem.\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.ORG"
    answer = sign_in_as(served, oidc_provider, sub="e-5", email=fullwidth, email_verified=True)
    assert account_and_items(served, answer) == ("active", 200)
    me = requests.get(f"{served.base_url}/users/me", headers=bearer(answer.json()["access_token"]))
    assert me.json()["email"] == "e@chem.example.org"
    accented = sign_in_as(
        served, oidc_provider, sub="m-9", email="mallory@exämple.org", email_verified=True
    )
    assert accented.status_code == 403


def test_a_domain_entry_refuses_longer_names_and_unverified_emails(serve_oidc, oidc_provider):
    served = serve_oidc(allow_list=["@example.org"])
    for email, verified in [
        ("mallory@evilexample.org", True),
        ("mallory@example.org.evil.net", True),
        ("mallory@example.org", False),
    ]:
        answer = sign_in_as(served, oidc_provider, sub="m-9", email=email, email_verified=verified)
        assert answer.status_code == 403, email
        assert "not on the list" in answer.json()["message"]


def test_a_list_is_checked_at_every_sign_in(serve_oidc, oidc_provider):
    served = serve_oidc(allow_list=["@example.org"])
    first = sign_in_as(served, oidc_provider, sub="d-4", email="d@example.org", email_verified=True)
    assert account_and_items(served, first) == ("active", 200)
    # the provider now vouches for another address: this account is no longer admitted
    again = sign_in_as(
        served, oidc_provider, sub="d-4", email="d@other.example", email_verified=True
    )
    assert again.status_code == 403
