"""Two instances of the provider: each has its own routes, and a link works only where it
was asked for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from auth_email_steps import INSTANCE, SmtpPeer


def test_a_link_works_only_at_the_instance_that_sent_it(
    smtp_server: Callable[..., SmtpPeer],
    email_settings: Callable[..., dict[str, Any]],
    labvault_make_app: Callable[..., Any],
) -> None:
    peer = smtp_server("none")
    settings = email_settings(peer.options)
    staff = {**settings["AUTH_PROVIDERS"][INSTANCE], "display_name": "Staff mail"}
    settings["AUTH_PROVIDERS"] = {**settings["AUTH_PROVIDERS"], "staff": staff}
    client = labvault_make_app(**settings).test_client()

    assert {row["login_url"] for row in client.get("/auth/providers").get_json()} == {
        f"/auth/{INSTANCE}/request",
        "/auth/staff/request",
    }
    assert client.post("/auth/staff/request", json={"email": "pia@example.org"}).status_code == 202
    [mail] = peer.mailbox.wait_for(1)
    assert "/auth/staff/verify?token=" in mail.link

    elsewhere = client.post(f"/auth/{INSTANCE}/verify", data={"token": mail.token})
    assert elsewhere.status_code == 400
    opened_elsewhere = client.get(f"/auth/{INSTANCE}/verify", query_string={"token": mail.token})
    assert opened_elsewhere.status_code == 400
    signed_in = client.post(
        "/auth/staff/verify", data={"token": mail.token}, headers={"Accept": "application/json"}
    )
    assert signed_in.status_code == 200 and "access_token" in signed_in.get_json()
