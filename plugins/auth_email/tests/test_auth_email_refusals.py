"""Every way a link request or a link is refused, each as a person sees it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from auth_email_steps import (
    APP_ORIGIN,
    INSTANCE,
    SmtpPeer,
    ask_for_link,
    client_at,
    get_json,
    open_link,
    sign_in_by_mail,
    use_link,
)
from labvault.testing import Clock

ACCEPTED = {"message": "if this address may sign in here, a link is on its way"}


def test_a_used_link_does_not_work_again(
    smtp_server: Callable[..., SmtpPeer], serve_email: Callable[..., Any]
) -> None:
    peer = smtp_server("none")
    served = serve_email(peer.options)
    assert ask_for_link(served.base_url, "dee@example.org").status_code == 202
    [mail] = peer.mailbox.wait_for(1)

    assert use_link(served.base_url, mail.token).status_code == 200
    again = use_link(served.base_url, mail.token, accept="text/html")
    assert again.status_code == 400
    assert "Request a new link" in again.text
    assert again.headers["Cache-Control"] == "no-store"
    as_json = use_link(served.base_url, mail.token)
    assert as_json.status_code == 400 and "Request a new link" in as_json.json()["message"]
    assert open_link(served.base_url, mail.token).status_code == 400


def test_an_expired_link_does_not_work(
    smtp_server: Callable[..., SmtpPeer],
    email_settings: Callable[..., dict[str, Any]],
    labvault_make_app: Callable[..., Any],
    labvault_clock: Clock,
) -> None:
    """A link of 5 minutes still opens after 4, and no longer after 6 (in this process,
    whose time the clock moves)."""
    peer = smtp_server("none")
    client = labvault_make_app(**email_settings(peer.options, link_lifetime=5)).test_client()
    asked = client.post(f"/auth/{INSTANCE}/request", json={"email": "eve@example.org"})
    assert asked.status_code == 202
    [mail] = peer.mailbox.wait_for(1)
    assert "5 minutes" in mail.text
    link = f"/auth/{INSTANCE}/verify?token={mail.token}"

    labvault_clock.advance(dt.timedelta(minutes=4))
    assert client.get(link).status_code == 200  # the page with the button, link unspent
    labvault_clock.advance(dt.timedelta(minutes=2))

    page = client.get(link)
    assert page.status_code == 400 and "Request a new link" in page.get_data(as_text=True)
    used = client.post(
        f"/auth/{INSTANCE}/verify",
        data={"token": mail.token},
        headers={"Accept": "application/json"},
    )
    assert used.status_code == 400


def test_next_outside_the_allowed_origins_is_422(
    smtp_server: Callable[..., SmtpPeer], serve_email: Callable[..., Any]
) -> None:
    peer = smtp_server("none")
    served = serve_email(peer.options)

    for next_url in ("https://evil.example.net/cb", f"{APP_ORIGIN}.evil.net/cb", "/relative"):
        answer = ask_for_link(served.base_url, "fay@example.org", next=next_url)
        assert answer.status_code == 422, next_url
        assert "next" in answer.json()["errors"]["json"]
    assert peer.mailbox.settled() == []


def test_a_domain_outside_the_allow_list_gets_no_mail(
    smtp_server: Callable[..., SmtpPeer], serve_email: Callable[..., Any]
) -> None:
    peer = smtp_server("none")
    served = serve_email(peer.options, domain_allow_list=["example.org"])

    for address in ("gus@evilexample.org", "gus@example.org.evil.net", "gus@other.net"):
        answer = ask_for_link(served.base_url, address)
        assert (answer.status_code, answer.json()) == (202, ACCEPTED)
    # a subdomain of a listed domain is admitted
    assert ask_for_link(served.base_url, "gus@chem.example.org").status_code == 202

    mails = peer.mailbox.wait_for(1)
    assert [mail.rcpt_tos for mail in peer.mailbox.settled()] == [["gus@chem.example.org"]]
    assert mails[0].rcpt_tos == ["gus@chem.example.org"]


def test_one_client_gets_an_address_at_most_five_mails_an_hour(
    smtp_server: Callable[..., SmtpPeer], serve_email: Callable[..., Any]
) -> None:
    peer = smtp_server("none")
    served = serve_email(peer.options)

    for _ in range(6):
        answer = ask_for_link(served.base_url, "hal@example.org")
        assert (answer.status_code, answer.json()) == (202, ACCEPTED)
    peer.mailbox.wait_for(5)
    assert len(peer.mailbox.settled()) == 5


def test_a_client_using_up_its_mails_to_an_address_does_not_lock_its_owner_out(
    smtp_server: Callable[..., SmtpPeer], serve_email: Callable[..., Any]
) -> None:
    peer = smtp_server("none")
    served = serve_email(peer.options)
    attacker, owner = client_at("127.0.0.2"), client_at("127.0.0.3")

    for _ in range(8):
        answer = ask_for_link(served.base_url, "ida@example.org", attacker)
        assert (answer.status_code, answer.json()) == (202, ACCEPTED)
    peer.mailbox.wait_for(5)

    tokens = sign_in_by_mail(served.base_url, peer.mailbox, "ida@example.org", owner)
    assert get_json(served.base_url, "/users/me", tokens["access_token"]).status_code == 200
    assert len(peer.mailbox.settled()) == 6


def test_an_address_gets_at_most_mails_per_address_from_all_clients(
    smtp_server: Callable[..., SmtpPeer], serve_email: Callable[..., Any]
) -> None:
    peer = smtp_server("none")
    served = serve_email(peer.options, mails_per_address=3, mails_per_address_and_client=2)

    for client, asks in (("127.0.0.2", 3), ("127.0.0.3", 2), ("127.0.0.4", 1)):
        for _ in range(asks):
            answer = ask_for_link(served.base_url, "jan@example.org", client_at(client))
            assert (answer.status_code, answer.json()) == (202, ACCEPTED)
    # a client refused by its own count used up none of the address's
    peer.mailbox.wait_for(3)
    assert len(peer.mailbox.settled()) == 3
    assert ask_for_link(served.base_url, "kai@example.org").status_code == 202
    assert peer.mailbox.wait_for(4)[-1].rcpt_tos == ["kai@example.org"]


def test_a_client_address_over_its_limit_gets_429(
    smtp_server: Callable[..., SmtpPeer], serve_email: Callable[..., Any]
) -> None:
    peer = smtp_server("none")
    served = serve_email(peer.options, requests_per_ip=3)

    # new connections each time, so the requests spread over both workers
    for number in range(3):
        assert ask_for_link(served.base_url, f"ivy{number}@example.org").status_code == 202
    refused = ask_for_link(served.base_url, "ivy3@example.org")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    peer.mailbox.wait_for(3)
    assert sorted(mail.rcpt_tos[0] for mail in peer.mailbox.settled()) == [
        f"ivy{number}@example.org" for number in range(3)
    ]


def test_a_deactivated_account_gets_no_mail(
    smtp_server: Callable[..., SmtpPeer],
    serve_email: Callable[..., Any],
    email_settings: Callable[..., dict[str, Any]],
    labvault_make_app: Callable[..., Any],
    labvault_make_user: Callable[..., Any],
) -> None:
    peer = smtp_server("none")
    app = labvault_make_app(**email_settings(peer.options))
    labvault_make_user(app, status="deactivated", email="jo@example.org")
    served = serve_email(peer.options)

    answer = ask_for_link(served.base_url, "jo@example.org")
    assert (answer.status_code, answer.json()) == (202, ACCEPTED)
    assert peer.mailbox.settled() == []


def test_closed_registration_mails_only_existing_accounts(
    smtp_server: Callable[..., SmtpPeer],
    serve_email: Callable[..., Any],
    email_settings: Callable[..., dict[str, Any]],
    labvault_make_app: Callable[..., Any],
    labvault_make_user: Callable[..., Any],
) -> None:
    peer = smtp_server("none")
    app = labvault_make_app(**email_settings(peer.options, domain_allow_list=[]))
    member = labvault_make_user(app, email="kim@example.org")
    served = serve_email(peer.options, domain_allow_list=[])

    stranger = ask_for_link(served.base_url, "newcomer@example.org")
    assert (stranger.status_code, stranger.json()) == (202, ACCEPTED)
    tokens = sign_in_by_mail(served.base_url, peer.mailbox, "kim@example.org")
    assert [mail.rcpt_tos for mail in peer.mailbox.settled()] == [["kim@example.org"]]

    me = get_json(served.base_url, "/users/me", tokens["access_token"]).json()
    assert (me["id"], me["status"]) == (member.id, "active")
