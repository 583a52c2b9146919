"""Reverse proxies in front of labvault: which X-Forwarded-* headers are trusted, and
from how many proxies.

PROXY_HOPS says how many proxies stand in front (0: none, every forwarded header is
ignored); PROXY_HEADERS which of their headers are taken (X-Forwarded-For and
X-Forwarded-Proto unless it says otherwise: links are made from PUBLIC_URL, not from a
forwarded host). The client address the rate limits and the audit log see is the one
PROXY_HOPS proxies back, so a client that makes up addresses of its own in
X-Forwarded-For is still counted as itself. Under `labvault serve`, gunicorn trusts no
forwarded header of its own either.

Proxies do not differ between databases: these tests run on SQLite.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from labvault.errors import ConfigError

from tests.plugin_dists import app_settings
from tests.test_audit import events
from tests.test_rate_limits import UNKNOWN_REFRESH, assert_limited

HSTS = "max-age=31536000; includeSubDomains"
#: The proxy next to labvault, as the server sees it.
NEAREST_PROXY = {"REMOTE_ADDR": "10.0.0.1"}


@pytest.fixture
def labvault_database_url(tmp_path):
    return f"sqlite:///{tmp_path / 'labvault.db'}"


def where(labvault_make_app: Any, **settings: Any) -> Any:
    """A client of an app with a route that answers what the request looks like."""

    def request_seen() -> dict[str, Any]:
        from flask import request

        return {
            "remote": request.remote_addr,
            "url": request.url,
            "script_root": request.script_root,
        }

    app = labvault_make_app(**settings)
    app.add_url_rule("/where", view_func=request_seen)
    return app.test_client()


def forwarded_for(*addresses: str) -> dict[str, str]:
    return {"X-Forwarded-For": ", ".join(addresses)}


@pytest.mark.parametrize(
    ("hops", "chain", "client"),
    [
        (1, ["made-up", "203.0.113.7"], "203.0.113.7"),
        (2, ["made-up", "203.0.113.7", "10.0.0.2"], "203.0.113.7"),
        (3, ["made-up", "203.0.113.7", "10.0.0.3", "10.0.0.2"], "203.0.113.7"),
    ],
)
def test_the_client_address_is_the_one_proxy_hops_back(labvault_make_app, hops, chain, client):
    seen = where(labvault_make_app, PROXY_HOPS=hops)

    answer = seen.get("/where", headers=forwarded_for(*chain), environ_base=NEAREST_PROXY)

    assert answer.json["remote"] == client


def test_made_up_addresses_do_not_escape_the_rate_limit(labvault_make_app):
    app = labvault_make_app(PROXY_HOPS=2, RATE_LIMITS={"token": "1/minute"})
    client = app.test_client()

    def refresh(made_up: str, real: str) -> Any:
        return client.post(
            "/auth/refresh",
            json=UNKNOWN_REFRESH,
            headers=forwarded_for(made_up, real, "10.0.0.2"),
            environ_base=NEAREST_PROXY,
        )

    assert refresh("198.51.100.1", "203.0.113.7").status_code == 401
    assert_limited(refresh("198.51.100.2", "203.0.113.7"), 60)  # another made-up one
    assert_limited(refresh("198.51.100.3", "203.0.113.7"), 60)
    assert refresh("198.51.100.1", "203.0.113.8").status_code == 401  # another client


def test_the_audit_log_records_the_client_behind_the_proxies(labvault_make_app, labvault_make_user):
    app = labvault_make_app(PROXY_HOPS=2)
    alice = labvault_make_user(app)

    created = app.test_client().post(
        "/users/me/api-keys",
        json={"name": "balance"},
        headers={**alice.headers, **forwarded_for("198.51.100.1", "203.0.113.7", "10.0.0.2")},
        environ_base=NEAREST_PROXY,
    )

    assert created.status_code == 201
    assert [event["client"] for event in events(app)] == ["203.0.113.7"]


#: Everything a client could forward, each header trying to change what labvault sees.
EVERY_FORWARDED_HEADER = {
    "X-Forwarded-For": "203.0.113.7",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Port": "8443",
    "X-Forwarded-Prefix": "/elsewhere",
}


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, {"remote": "10.0.0.1", "url": "http://localhost/where", "script_root": ""}),
        (
            {"PROXY_HOPS": 1},
            {"remote": "203.0.113.7", "url": "https://localhost/where", "script_root": ""},
        ),
        (
            {"PROXY_HOPS": 1, "PROXY_HEADERS": ["X-Forwarded-Proto"]},
            {"remote": "10.0.0.1", "url": "https://localhost/where", "script_root": ""},
        ),
        (
            {
                "PROXY_HOPS": 1,
                "PROXY_HEADERS": [
                    "X-Forwarded-For",
                    "x-forwarded-proto",
                    "X-Forwarded-Host",
                    "X-Forwarded-Port",
                    "X-Forwarded-Prefix",
                ],
            },
            {
                "remote": "203.0.113.7",
                "url": "https://evil.example:8443/elsewhere/where",
                "script_root": "/elsewhere",
            },
        ),
    ],
    ids=["no-proxy", "defaults", "proto-only", "every-header"],
)
def test_only_the_headers_in_proxy_headers_are_trusted(labvault_make_app, settings, expected):
    seen = where(labvault_make_app, **settings)

    answer = seen.get("/where", headers=EVERY_FORWARDED_HEADER, environ_base=NEAREST_PROXY)

    assert answer.json == expected


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"PROXY_HOPS": -1}, "PROXY_HOPS: Must be greater than or equal to 0"),
        (
            {"PROXY_HOPS": 11},
            "PROXY_HOPS: Must be greater than or equal to 0 and less than or equal to 10.",
        ),
        (
            {"PROXY_HOPS": 1, "PROXY_HEADERS": ["X-Real-IP"]},
            "PROXY_HEADERS.0: not a forwarded header labvault takes: X-Forwarded-For, "
            "X-Forwarded-Proto, X-Forwarded-Host, X-Forwarded-Port, X-Forwarded-Prefix",
        ),
        (
            {"PROXY_HEADERS": ["X-Forwarded-For", "X-Forwarded-Host"]},
            "PROXY_HEADERS: trusts nothing while PROXY_HOPS is 0 (set PROXY_HOPS to the "
            "number of proxies in front)",
        ),
        (
            {"BEHIND_REVERSE_PROXY": True},
            "BEHIND_REVERSE_PROXY: replaced by PROXY_HOPS (the number of reverse proxies "
            "in front, usually 1) and PROXY_HEADERS",
        ),
    ],
    ids=["negative", "too-many", "unknown-header", "headers-without-hops", "retired-setting"],
)
def test_config_check_explains_proxy_settings(tmp_path, settings, problem):
    from labvault.app import create_app

    with pytest.raises(ConfigError) as caught:
        create_app(app_settings(tmp_path, **settings))

    assert any(line.startswith(problem) for line in caught.value.problems), caught.value.problems


def test_a_retired_setting_in_the_environment_is_reported(tmp_path):
    from labvault.settings import load_settings

    environ = {"LABVAULT_BEHIND_REVERSE_PROXY": "true"}
    with pytest.raises(ConfigError) as caught:
        load_settings(app_settings(tmp_path), environ=environ)

    assert caught.value.problems[0].startswith("BEHIND_REVERSE_PROXY: replaced by PROXY_HOPS")


# --- under gunicorn, as deployed -------------------------------------------------------


def get(url: str, headers: dict[str, str]) -> Any:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as got:
        return got.headers, json.loads(got.read())


@pytest.mark.parametrize(
    ("settings", "https"), [({}, False), ({"PROXY_HOPS": 1}, True)], ids=["no-proxy", "one-proxy"]
)
def test_under_labvault_serve_gunicorn_trusts_no_forwarded_header_itself(
    labvault_serve, settings, https
):
    served = labvault_serve(workers=1, **settings)

    # by default gunicorn takes these from any process on the host (forwarded_allow_ips)
    headers, _ = get(served.base_url + "/info", {"X-Forwarded-Proto": "https"})
    _, info = get(served.base_url + "/info", {"SCRIPT_NAME": "/elsewhere"})

    assert headers.get_all("Strict-Transport-Security", []) == ([HSTS] if https else [])
    assert info["identifier_prefix"] == "test"  # the header was ignored, not a 500
