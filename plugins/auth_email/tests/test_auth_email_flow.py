"""The whole sign-in by mail, over a served labvault (2 workers) and a real SMTP server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from auth_email_steps import (
    APP_ORIGIN,
    INSTANCE,
    SENDER,
    SMTP_PASSWORD,
    SMTP_USER,
    SmtpPeer,
    ask_for_link,
    assert_log_hides,
    get_json,
    open_link,
    use_link,
)
from labvault.testing import page_form

ACCEPTED = {"message": "if this address may sign in here, a link is on its way"}


def test_sign_in_over_starttls_with_login_and_public_url(
    smtp_server: Callable[..., SmtpPeer], serve_email: Callable[..., Any]
) -> None:
    peer = smtp_server("starttls", login=True)
    served = serve_email(
        peer.options,
        env={"TEST_SMTP_PASSWORD": SMTP_PASSWORD},
        username=SMTP_USER,
        password={"env": "TEST_SMTP_PASSWORD"},
        server={"PUBLIC_URL": "https://lab.example.org"},
    )

    answer = ask_for_link(served.base_url, " Ada@Example.ORG ")
    assert (answer.status_code, answer.json()) == (202, ACCEPTED)

    [mail] = peer.mailbox.wait_for(1)
    assert peer.mailbox.logins == [SMTP_USER]
    assert mail.rcpt_tos == ["ada@example.org"]
    assert mail.message["To"] == "ada@example.org"
    assert mail.message["From"] == SENDER
    assert mail.message["Subject"] == "Your labvault sign-in link"
    assert mail.link.startswith(f"https://lab.example.org/auth/{INSTANCE}/verify?token=")
    assert "60 minutes" in mail.text
    assert "If you did not ask for this, ignore this mail" in mail.text

    # a mail scanner opening the link first does not use it up
    for _ in range(2):
        page = open_link(served.base_url, mail.token)
        assert page.status_code == 200
        assert "ada@example.org" in page.text and 'method="post"' in page.text
        assert page.headers["Cache-Control"] == "no-store"
        # the origin only, never the URL with its token; "no-referrer" would make the
        # browser post the form with "Origin: null", which the server refuses
        assert page.headers["Referrer-Policy"] == "strict-origin"
    assert page_form(page.text) == (f"/auth/{INSTANCE}/verify", {"token": mail.token})

    signed_in = use_link(served.base_url, mail.token)
    assert signed_in.status_code == 200, signed_in.text
    tokens = signed_in.json()
    assert tokens["token_type"] == "Bearer"
    me = get_json(served.base_url, "/users/me", tokens["access_token"])
    assert me.status_code == 200
    assert me.json()["email"] == "ada@example.org"
    [identity] = get_json(served.base_url, "/users/me/identities", tokens["access_token"]).json()
    assert identity["provider"] == INSTANCE
    assert identity["subject"] == "ada@example.org"
    assert identity["email_verified"] is True

    assert_log_hides(
        served.log(), mail.token, tokens["access_token"], tokens["refresh_token"], SMTP_PASSWORD
    )


def test_sign_in_over_plain_smtp_with_next_redirect(
    smtp_server: Callable[..., SmtpPeer], serve_email: Callable[..., Any]
) -> None:
    peer = smtp_server("none")
    served = serve_email(peer.options, subject="Sign in to the lab", display_name="Mail link")
    next_url = f"{APP_ORIGIN}/signed-in?tab=1"

    # a client finds where signing in starts, and the routes are documented
    [provider] = get_json(served.base_url, "/auth/providers", "").json()
    assert provider == {
        "name": INSTANCE,
        "type": "email",
        "display_name": "Mail link",
        "login_url": f"/auth/{INSTANCE}/request",
    }
    paths = get_json(served.base_url, "/openapi.json", "").json()["paths"]
    assert set(paths[f"/auth/{INSTANCE}/request"]) == {"post"}
    assert set(paths[f"/auth/{INSTANCE}/verify"]) == {"get", "post"}

    answer = ask_for_link(served.base_url, "bo@example.org", next=next_url)
    assert (answer.status_code, answer.json()) == (202, ACCEPTED)
    [mail] = peer.mailbox.wait_for(1)
    assert mail.message["Subject"] == "Sign in to the lab"
    # PUBLIC_URL is the served address (labvault_serve sets it)
    assert mail.link.startswith(f"{served.base_url}/auth/{INSTANCE}/verify?token=")
    assert open_link(served.base_url, mail.token).status_code == 200

    redirected = use_link(served.base_url, mail.token, accept="text/html")
    assert redirected.status_code == 302
    location = urlsplit(redirected.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}?{location.query}" == next_url
    fragment = {key: values[0] for key, values in parse_qs(location.fragment).items()}
    me = get_json(served.base_url, "/users/me", fragment["access_token"])
    assert me.status_code == 200 and me.json()["email"] == "bo@example.org"

    assert_log_hides(served.log(), mail.token, fragment["access_token"], fragment["refresh_token"])
