"""Where a link points, and where the form that spends it may come from.

A mailed link points at PUBLIC_URL, never at the host a request names: a link to an
attacker's host would hand them the token. The form that spends a link signs in only
when sent from this server's own page: an attacker's page posting the attacker's own
link would sign the victim into the attacker's account (login CSRF).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
from auth_email_steps import INSTANCE, SmtpPeer, ask_for_link, open_link
from labvault.plugin import ConfigError
from labvault.testing import page_form

SMTP = {"host": "127.0.0.1", "port": 2525, "security": "none"}
PUBLIC_URL = "https://lab.example.org"


def test_a_server_that_mails_links_needs_public_url(
    labvault_make_app: Callable[..., Any], email_settings: Callable[..., dict[str, Any]]
) -> None:
    with pytest.raises(ConfigError) as raised:
        labvault_make_app(**{**email_settings(SMTP), "PUBLIC_URL": None})

    assert raised.value.problems == [
        "AUTH_PROVIDERS.mail: this sign-in provider mails links; set PUBLIC_URL to the "
        'address people reach labvault at (e.g. "https://labvault.example.org"): links and '
        "callbacks are never built from the Host a request names"
    ]


@pytest.mark.parametrize(
    "headers",
    [{"Host": "evil.example"}, {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"}],
    ids=["host", "x-forwarded-host"],
)
def test_links_point_to_public_url_whatever_host_a_request_names(
    smtp_server: Callable[..., SmtpPeer], serve_email: Callable[..., Any], headers: dict[str, str]
) -> None:
    peer = smtp_server("none")
    # a proxy whose forwarded host is trusted: links still come from PUBLIC_URL
    proxy = {
        "PROXY_HOPS": 1,
        "PROXY_HEADERS": ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host"],
    }
    served = serve_email(peer.options, server={"PUBLIC_URL": PUBLIC_URL, **proxy})

    asked = requests.post(
        f"{served.base_url}/auth/{INSTANCE}/request",
        json={"email": "ada@example.org"},
        headers=headers,
        timeout=10,
    )

    assert asked.status_code == 202, asked.text
    [mail] = peer.mailbox.wait_for(1)
    assert mail.link.startswith(f"{PUBLIC_URL}/auth/{INSTANCE}/verify?token=")
    assert f"labvault at {PUBLIC_URL}" in mail.text


def test_the_link_form_signs_in_only_when_sent_from_this_servers_page(
    smtp_server: Callable[..., SmtpPeer], serve_email: Callable[..., Any]
) -> None:
    peer = smtp_server("none")
    served = serve_email(peer.options)
    # the attacker asks for a link to their own address, to post it from their page
    assert ask_for_link(served.base_url, "mallory@example.org").status_code == 202
    [mail] = peer.mailbox.wait_for(1)
    verify = f"{served.base_url}/auth/{INSTANCE}/verify"

    for origin in ("https://evil.example", "null"):
        forged = requests.post(
            verify,
            data={"token": mail.token},
            headers={"Origin": origin, "Accept": "application/json"},
            allow_redirects=False,
            timeout=10,
        )
        assert forged.status_code == 403, forged.text
        assert "another site" in forged.json()["message"]
        assert "access_token" not in forged.text

    # the link was not used up: its own page still signs its owner in
    action, fields = page_form(open_link(served.base_url, mail.token).text)
    signed_in = requests.post(
        urljoin(verify, action),
        data=fields,
        headers={"Origin": served.base_url, "Accept": "application/json"},
        timeout=10,
    )
    assert signed_in.status_code == 200, signed_in.text


def test_a_person_signs_in_from_the_mail_in_a_real_browser(
    smtp_server: Callable[..., SmtpPeer], serve_email: Callable[..., Any], labvault_chromium: Any
) -> None:
    peer = smtp_server("none")
    served = serve_email(peer.options)
    assert ask_for_link(served.base_url, "ada@example.org").status_code == 202
    [mail] = peer.mailbox.wait_for(1)
    context = labvault_chromium.new_context()
    try:
        page = context.new_page()
        messages: list[str] = []
        page.on("console", lambda message: messages.append(message.text))
        page.goto(mail.link)
        assert "ada@example.org" in page.content()
        with page.expect_navigation():
            page.get_by_role("button", name="Sign in").click()
        token = page.locator("#access-token").input_value()
    finally:
        context.close()

    assert messages == []  # no Content-Security-Policy violation, no error
    me = requests.get(
        f"{served.base_url}/users/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert me.status_code == 200 and me.json()["email"] == "ada@example.org"
