"""The allow-list table: who registers, and in which status, through an email link."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from auth_email_steps import INSTANCE, SmtpPeer, get_json, sign_in_by_mail


def test_without_a_list_a_new_address_registers_unverified(
    smtp_server: Callable[..., SmtpPeer], serve_email: Callable[..., Any]
) -> None:
    peer = smtp_server("none")
    served = serve_email(peer.options)  # domain_allow_list: None

    tokens = sign_in_by_mail(served.base_url, peer.mailbox, "lou@anywhere.net")

    me = get_json(served.base_url, "/users/me", tokens["access_token"])
    assert me.status_code == 200
    assert (me.json()["email"], me.json()["status"]) == ("lou@anywhere.net", "unverified")
    assert get_json(served.base_url, "/items", tokens["access_token"]).status_code == 403
    identities = get_json(served.base_url, "/users/me/identities", tokens["access_token"])
    assert [(row["provider"], row["subject"]) for row in identities.json()] == [
        (INSTANCE, "lou@anywhere.net")
    ]


def test_an_admitted_domain_registers_active(
    smtp_server: Callable[..., SmtpPeer], serve_email: Callable[..., Any]
) -> None:
    peer = smtp_server("none")
    served = serve_email(peer.options, domain_allow_list=["Example.org"])

    tokens = sign_in_by_mail(served.base_url, peer.mailbox, "max@chem.example.org")

    me = get_json(served.base_url, "/users/me", tokens["access_token"]).json()
    assert (me["email"], me["status"]) == ("max@chem.example.org", "active")
    assert get_json(served.base_url, "/items", tokens["access_token"]).status_code == 200
