"""The allow-list table: who registers, and in which status, through an email link."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from auth_email_steps import (
    INSTANCE,
    SmtpPeer,
    ask_for_link,
    get_json,
    sign_in_by_mail,
    use_link,
)


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


def test_an_address_is_mailed_and_kept_in_its_normal_form(
    smtp_server: Callable[..., SmtpPeer], serve_email: Callable[..., Any]
) -> None:
    """NFKC, then case-folded: fullwidth letters are ASCII ones, case does not count."""
    peer = smtp_server("none")
    served = serve_email(peer.options, domain_allow_list=["example.org"])

    fullwidth = "\uff2c\uff45\uff41@\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.org"
    assert ask_for_link(served.base_url, fullwidth).status_code == 202
    [mail] = peer.mailbox.wait_for(1)
    assert mail.rcpt_tos == ["lea@example.org"]
    tokens = use_link(served.base_url, mail.token).json()

    me = get_json(served.base_url, "/users/me", tokens["access_token"]).json()
    assert (me["email"], me["status"]) == ("lea@example.org", "active")
    assert ask_for_link(served.base_url, "LEA@example.org").status_code == 202
    mail = peer.mailbox.wait_for(2)[-1]
    assert mail.rcpt_tos == ["lea@example.org"]
    again = use_link(served.base_url, mail.token).json()
    assert get_json(served.base_url, "/users/me", again["access_token"]).json()["id"] == me["id"]
