"""Where a link points: at PUBLIC_URL, never at the host a request names (a link to an
attacker's host would hand them the token)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
from auth_email_steps import INSTANCE, SmtpPeer
from labvault.plugin import ConfigError

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
    served = serve_email(
        peer.options, server={"PUBLIC_URL": PUBLIC_URL, "BEHIND_REVERSE_PROXY": True}
    )

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
