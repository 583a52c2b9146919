"""Absolute URLs of the server (callbacks, links in mails) come from PUBLIC_URL alone.

A URL built from the request would follow whatever ``Host`` (or, behind a proxy,
``X-Forwarded-Host``) a client sends: a mailed link or an OAuth callback could then point
at an attacker's host. So a sign-in provider that sends people such URLs needs
PUBLIC_URL, and startup (and ``labvault config check``) says so by key path.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner
from labvault.cli import cli
from labvault.errors import ConfigError

from tests.plugin_dists import write_config
from tests.test_signin import CAMPUS, JSON

#: A provider with a route of its own that mails links (it declares so) and one that
#: does not say it sends URLs of the server.
OWN_ROUTES = """
    from flask import Blueprint
    from labvault.plugin import AuthProvider, Identity, hookimpl

    class Postman(AuthProvider):
        name = "postman"
        sends_links = True

        def blueprints(self):
            blp = Blueprint(f"postman_{self.instance_name}", __name__,
                            url_prefix=f"/auth/{self.instance_name}")

            @blp.post("/send")
            def send():
                return {"link": self.host.external_url(f"/auth/{self.instance_name}/open")}

            return [blp]

    class Doorbell(AuthProvider):  # builds a URL of the server without saying so
        name = "doorbell"

        def blueprints(self):
            blp = Blueprint("doorbell", __name__, url_prefix=f"/auth/{self.instance_name}")

            @blp.post("/ring")
            def ring():
                return {"link": self.host.external_url("/somewhere")}

            return [blp]

    @hookimpl
    def labvault_auth_provider_types():
        return [Postman, Doorbell]
"""
NEEDS_PUBLIC_URL = (
    "set PUBLIC_URL to the address people reach labvault at (e.g. "
    '"https://labvault.example.org"): links and callbacks are never built from the Host '
    "a request names"
)


@pytest.fixture
def labvault_database_url(tmp_path):
    return f"sqlite:///{tmp_path / 'labvault.db'}"


@pytest.fixture
def plugins(dists):
    dists.add("campus", CAMPUS)
    dists.add("own_routes", OWN_ROUTES)
    return ["campus", "own_routes"]


def test_a_provider_that_redirects_or_mails_links_needs_public_url(plugins, startup_problems):
    problems = startup_problems(
        PLUGINS=plugins,
        AUTH_PROVIDERS={
            "uni": {"type": "campus"},
            "mail": {"type": "postman"},
            "door": {"type": "doorbell"},
        },
        PUBLIC_URL=None,
    )

    assert problems == [
        f"AUTH_PROVIDERS.mail: this sign-in provider mails links; {NEEDS_PUBLIC_URL}",
        f"AUTH_PROVIDERS.uni: this sign-in provider redirects; {NEEDS_PUBLIC_URL}",
    ]


def test_config_check_reports_a_missing_public_url(plugins, tmp_path):
    config = write_config(
        tmp_path, PLUGINS=plugins, AUTH_PROVIDERS={"uni": {"type": "campus"}}, PUBLIC_URL=None
    )

    result = CliRunner().invoke(cli, ["config", "check"], env={"LABVAULT_CONFIG": str(config)})

    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError)
    assert result.exception.problems == [
        f"AUTH_PROVIDERS.uni: this sign-in provider redirects; {NEEDS_PUBLIC_URL}"
    ]


def test_without_such_providers_the_server_starts_without_public_url(plugins, make_app):
    # `make run`: no provider at all; and a provider that sends no URL of the server
    assert make_app(PUBLIC_URL=None).test_client().get("/info").status_code == 200
    doorbell = make_app(
        PLUGINS=plugins, AUTH_PROVIDERS={"door": {"type": "doorbell"}}, PUBLIC_URL=None
    )
    assert doorbell.test_client().get("/auth/providers").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{"Host": "evil.example"}, {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"}],
    ids=["host", "x-forwarded-host"],
)
def test_urls_follow_public_url_whatever_host_a_request_names(plugins, labvault_make_app, headers):
    public = "https://labvault.example.org/lab"
    app = labvault_make_app(
        PLUGINS=plugins,
        AUTH_PROVIDERS={"uni": {"type": "campus"}, "mail": {"type": "postman"}},
        PUBLIC_URL=public + "/",
        # a proxy whose forwarded host is trusted: links still come from PUBLIC_URL
        PROXY_HOPS=1,
        PROXY_HEADERS=["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host"],
    )
    client = app.test_client()

    login = client.get("/auth/uni/login", headers=headers)
    script = client.get("/auth/uni/login", headers={**headers, **JSON})
    mailed = client.post("/auth/mail/send", headers=headers)

    query = parse_qs(urlsplit(login.headers["Location"]).query)
    assert query["redirect_uri"] == [f"{public}/auth/uni/callback"]
    assert script.json["authorization_url"].startswith(f"{public}/auth/uni/")
    assert mailed.json == {"link": f"{public}/auth/mail/open"}


def test_without_public_url_no_url_of_the_server_is_built(plugins, labvault_make_app):
    app = labvault_make_app(
        PLUGINS=plugins, AUTH_PROVIDERS={"door": {"type": "doorbell"}}, PUBLIC_URL=None
    )

    answer = app.test_client().post("/auth/door/ring", headers={"Host": "evil.example"})

    assert answer.status_code == 500
    assert "PUBLIC_URL is not set" in answer.json["message"]
