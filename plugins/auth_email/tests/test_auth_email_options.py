"""The instance's options: what a deployer gets wrong is reported by key path at startup."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from labvault.plugin import ConfigError
from labvault_auth_email.options import domain_admitted

SMTP = {"host": "127.0.0.1", "port": 2525, "security": "none"}


@pytest.mark.parametrize(
    ("domain", "admitted"),
    [
        ("example.org", True),
        ("chem.example.org", True),
        ("a.b.example.org", True),
        ("evilexample.org", False),
        ("example.org.evil.net", False),
        ("org", False),
    ],
)
def test_a_listed_domain_admits_itself_and_its_subdomains_only(domain: str, admitted: bool) -> None:
    assert domain_admitted(domain, ["example.org"]) is admitted


def test_an_instance_with_its_secret_in_the_environment_is_listed(
    labvault_make_app: Callable[..., Any],
    email_settings: Callable[..., dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_SMTP_SECRET", "s3cret")
    settings = email_settings(SMTP, username="lab", password={"env": "TEST_SMTP_SECRET"})
    app = labvault_make_app(**settings)

    listed = app.test_client().get("/auth/providers").get_json()
    assert listed == [
        {
            "name": "mail",
            "type": "email",
            "display_name": "Email",
            "login_url": "/auth/mail/request",
        }
    ]


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"security": "tls"}, "AUTH_PROVIDERS.mail.security"),
        ({"username": "lab"}, "AUTH_PROVIDERS.mail.username"),
        ({"sender": "no address"}, "AUTH_PROVIDERS.mail.sender"),
        ({"ca_file": "/nonexistent/ca.pem"}, "AUTH_PROVIDERS.mail.ca_file"),
        ({"domain_allow_list": ["*.example.org"]}, "AUTH_PROVIDERS.mail.domain_allow_list"),
        ({"link_lifetime": 0}, "AUTH_PROVIDERS.mail.link_lifetime"),
        ({"subject": "two\nlines"}, "AUTH_PROVIDERS.mail.subject"),
        ({"smtp_host": "x"}, "AUTH_PROVIDERS.mail.smtp_host"),
        (
            {"username": "lab", "password": {"env": "TEST_SMTP_UNSET"}},
            "AUTH_PROVIDERS.mail.password",
        ),
    ],
)
def test_a_wrong_option_stops_startup_naming_it(
    labvault_make_app: Callable[..., Any],
    email_settings: Callable[..., dict[str, Any]],
    options: dict[str, Any],
    problem: str,
) -> None:
    with pytest.raises(ConfigError) as raised:
        labvault_make_app(**email_settings(SMTP, **options))
    assert any(line.startswith(problem) for line in raised.value.problems), raised.value.problems


@pytest.mark.parametrize(
    "body",
    [{"email": "not an address"}, {"email": "a@example.org", "admin": True}, {}, ["a@b.org"]],
)
def test_a_bad_request_body_is_422(
    labvault_make_app: Callable[..., Any],
    email_settings: Callable[..., dict[str, Any]],
    body: Any,
) -> None:
    client = labvault_make_app(**email_settings(SMTP)).test_client()
    assert client.post("/auth/mail/request", json=body).status_code == 422
