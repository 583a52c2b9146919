"""Security headers on every response, the policy /doc works under, and API_DOCS.

What the browser does with the policy of /doc is tested in tests/test_doc_browser.py
(real Chromium, every CSP violation fails it); here, what the server sends.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import pytest
from labvault.errors import ConfigError

from tests.test_files import upload
from tests.test_signin import CAMPUS, finish, start

API_POLICY = "default-src 'none'; frame-ancestors 'none'"
COMMON = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
HSTS = "max-age=31536000; includeSubDomains"
FORWARDED_HTTPS = {
    "X-Forwarded-For": "203.0.113.7",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "lab.example.org",
}


@pytest.fixture
def labvault_database_url(tmp_path):
    return f"sqlite:///{tmp_path / 'labvault.db'}"


@pytest.fixture
def app(labvault_make_app):
    return labvault_make_app()


@pytest.fixture
def client(app):
    return app.test_client()


def sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def directives(policy: str) -> dict[str, list[str]]:
    parsed = [part.split() for part in policy.split(";") if part.strip()]
    return {name: sources for name, *sources in parsed}


def assert_common_headers(response: Any) -> None:
    for name, value in COMMON.items():
        assert response.headers.getlist(name) == [value], name
    assert len(response.headers.getlist("Content-Security-Policy")) == 1
    assert "Strict-Transport-Security" not in response.headers


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/info", 200),
        ("GET", "/openapi.json", 200),
        ("GET", "/doc/assets/swagger-ui-bundle.js", 200),
        ("GET", "/no/such/route", 404),
        ("GET", "/users/me", 401),
        ("DELETE", "/info", 405),
        ("POST", "/auth/refresh", 415),
    ],
)
def test_every_answer_has_the_headers_and_a_policy_that_allows_nothing(
    client, method, path, status
):
    response = client.open(path, method=method, data="x" if method == "POST" else None)

    assert response.status_code == status
    assert_common_headers(response)
    assert response.headers["Content-Security-Policy"] == API_POLICY


def test_a_crash_has_the_headers_too(labvault_make_app):
    app = labvault_make_app()

    @app.route("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert_common_headers(response)
    assert response.headers["Content-Security-Policy"] == API_POLICY


def inline_scripts(html: str) -> list[str]:
    return re.findall(r"<script>(.*?)</script>", html, re.DOTALL)


@pytest.mark.parametrize("prefix", ["", "/labvault"], ids=["direct", "behind-a-path-prefix"])
def test_doc_allows_its_own_files_and_its_inline_script_by_hash(labvault_make_app, prefix):
    behind_a_prefix = {"PROXY_HOPS": 1, "PROXY_HEADERS": ["X-Forwarded-Prefix"]}
    app = labvault_make_app(**(behind_a_prefix if prefix else {}))
    response = app.test_client().get("/doc", headers={"X-Forwarded-Prefix": prefix})
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    assert f'url: "{prefix}/openapi.json"' in html  # the script differs with the prefix
    assert_common_headers(response)
    [script] = inline_scripts(html)
    assert directives(response.headers["Content-Security-Policy"]) == {
        "default-src": ["'none'"],
        "script-src": ["'self'", sha256_source(script)],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
    }


@pytest.mark.parametrize(
    ("proxied", "headers", "hsts"),
    [
        (True, FORWARDED_HTTPS, True),
        (True, {**FORWARDED_HTTPS, "X-Forwarded-Proto": "http"}, False),
        (False, FORWARDED_HTTPS, False),  # a client's own X-Forwarded-Proto is not trusted
        (False, {}, False),
    ],
    ids=["proxy-says-https", "proxy-says-http", "no-proxy-forged-https", "plain-http"],
)
def test_hsts_only_over_https(labvault_make_app, proxied, headers, hsts):
    client = labvault_make_app(PROXY_HOPS=int(proxied)).test_client()
    for path in ("/info", "/doc", "/no/such/route"):
        response = client.get(path, headers=headers)
        expected = [HSTS] if hsts else []
        assert response.headers.getlist("Strict-Transport-Security") == expected, path


def test_hsts_when_served_over_https_directly(client):
    response = client.get("/info", base_url="https://lab.example.org")
    assert response.headers.getlist("Strict-Transport-Security") == [HSTS]


def test_downloads_keep_their_own_policy_and_one_nosniff(app, labvault_make_user):
    user = labvault_make_user(app)
    client = app.test_client()
    item = client.post("/items", json={"type": "sample", "name": "x"}, headers=user.headers)
    page = b"<html><script>alert(1)</script></html>"
    created = upload(client, user, item.json["refcode"], page, "page.html")
    assert created.status_code == 201, created.json

    download = client.get(created.json["content_url"], headers=user.headers)
    assert download.status_code == 200
    assert_common_headers(download)
    assert download.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"


@pytest.fixture
def campus_app(dists, labvault_make_app):
    dists.add("campus", CAMPUS)

    def make(**settings: Any) -> Any:
        return labvault_make_app(
            PLUGINS=["campus"], AUTH_PROVIDERS={"uni": {"type": "campus"}}, **settings
        )

    return make


@pytest.mark.parametrize("docs", [True, False], ids=["docs-on", "docs-off"])
def test_the_sign_in_page_allows_only_its_own_style(campus_app, docs):
    client = campus_app(API_DOCS=docs).test_client()
    page = finish(client, start(client), "ada:ada@lab.example")
    html = page.get_data(as_text=True)

    assert page.status_code == 200 and page.mimetype == "text/html"
    assert_common_headers(page)
    [style] = re.findall(r"<style>(.*?)</style>", html, re.DOTALL)
    assert directives(page.headers["Content-Security-Policy"]) == {
        "default-src": ["'none'"],
        "style-src": [sha256_source(style)],
        "frame-ancestors": ["'none'"],
    }
    # no link to documentation that is not served: how to send the token instead
    assert ('href="/doc"' in html) is docs
    assert ("Authorization: Bearer &lt;token&gt;" in html) is not docs


DOC_PATHS = ["/doc", "/doc/assets/swagger-ui-bundle.js", "/doc/assets/swagger-ui.css"]


def test_api_docs_off_answers_404_json_for_doc_and_openapi(labvault_make_app):
    client = labvault_make_app(API_DOCS=False).test_client()

    for path in [*DOC_PATHS, "/openapi.json"]:
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.mimetype == "application/json"
        assert response.json["code"] == 404
        assert_common_headers(response)
    assert client.get("/info").status_code == 200  # the API itself is served


def test_api_docs_are_on_by_default(client):
    for path in [*DOC_PATHS, "/openapi.json"]:
        assert client.get(path).status_code == 200, path


def test_api_docs_must_be_a_boolean(labvault_make_app):
    with pytest.raises(ConfigError) as refused:
        labvault_make_app(API_DOCS="maybe")
    assert refused.value.problems == ["API_DOCS: Not a valid boolean."]
