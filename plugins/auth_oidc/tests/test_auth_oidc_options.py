"""The options of an ``oidc`` instance, checked when the app starts, and the allow list."""

from __future__ import annotations

import pytest
from labvault.plugin import ConfigError, Identity
from labvault_auth_oidc import admitted


def test_bad_options_are_reported_by_key_path(labvault_make_app):
    with pytest.raises(ConfigError) as raised:
        labvault_make_app(
            PLUGINS=["auth_oidc"],
            AUTH_PROVIDERS={
                "uni": {
                    "type": "oidc",
                    "issuer": "http://login.uni.example",  # plain http to another host
                    "scopes": ["email"],
                    "allow_list": ["@", "@uni.example"],
                    "timeout": 0,
                    "colour": "blue",
                },
                "lab": {"type": "oidc", "issuer": "https://lab.example", "client_id": "x"},
            },
        )
    report = "\n".join(raised.value.problems)
    for path in ("issuer", "client_id", "scopes", "allow_list.0", "timeout", "colour"):
        assert f"AUTH_PROVIDERS.uni.{path}" in report, path
    assert "allow_list.1" not in report
    assert "AUTH_PROVIDERS.lab" not in report


def test_the_secret_may_come_from_the_environment(labvault_make_app, monkeypatch):
    options = {"type": "oidc", "issuer": "https://login.uni.example", "client_id": "lv"}
    monkeypatch.setenv("UNI_CLIENT_SECRET", "from-the-environment")
    app = labvault_make_app(
        PLUGINS=["auth_oidc"],
        AUTH_PROVIDERS={"uni": {**options, "client_secret": {"env": "UNI_CLIENT_SECRET"}}},
    )
    assert app.test_client().get("/auth/providers").json == [
        {
            "name": "uni",
            "type": "oidc",
            "display_name": "OpenID Connect",
            "login_url": "/auth/uni/login",
        }
    ]
    monkeypatch.delenv("UNI_CLIENT_SECRET")
    with pytest.raises(ConfigError, match=r"AUTH_PROVIDERS.uni.client_secret.*UNI_CLIENT_SECRET"):
        labvault_make_app(
            PLUGINS=["auth_oidc"],
            AUTH_PROVIDERS={"uni": {**options, "client_secret": {"env": "UNI_CLIENT_SECRET"}}},
        )


def person(email: str | None, verified: bool = True, subject: str = "s-1") -> Identity:
    return Identity("uni", subject, email, verified)


@pytest.mark.parametrize(
    ("identity", "admits"),
    [
        (person("a@example.org"), True),
        (person("a@chem.example.org"), True),
        (person("A@Chem.Example.ORG"), True),
        (person("a@evilexample.org"), False),
        (person("a@example.org.evil.net"), False),
        (person("a@example.org", verified=False), False),
        (person(None), False),
        (person(None, subject="listed-subject"), True),
    ],
)
def test_who_an_allow_list_admits(identity, admits):
    assert admitted(identity, ["@example.org", "listed-subject"]) is admits
