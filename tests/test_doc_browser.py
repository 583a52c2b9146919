"""/doc in a real browser: Swagger UI, served by labvault alone, calls the API for a user.

A site is served by `labvault serve` (gunicorn, SQLite) as a deployer runs it; headless
Chromium, driven by Playwright, opens /doc, authorizes with a user's personal API key
and runs GET /users/me with "Try it out". Every request the browser context makes is
recorded, and one to a host other than loopback is blocked and fails the test: /doc
works without internet and tells no one that it was opened. It works under its
Content-Security-Policy, too: every violation the page reports fails the test. Served
under a path prefix (gunicorn with SCRIPT_NAME=/labvault), /doc loads everything from
under the prefix and "Try it out" calls GET /info there.

The browser is Debian's `chromium` package (/usr/bin/chromium; `.ci/run` installs it),
started by labvault.testing's ``labvault_chromium``. Playwright's own browser download
(`playwright install`) is never used.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Request,
    Route,
    WebSocketRoute,
    expect,
)

from tests.test_cli import Server, make_site, new_user_token

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
#: Runs in every page before its own scripts: keeps each CSP violation it reports.
RECORD_CSP_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(
    `${event.effectiveDirective} refused ${event.blockedURI || "inline"} ` +
    `(${event.sourceFile}:${event.lineNumber})`
  );
});
"""
EMAIL = "marie@lab.org"


def is_loopback(url: str) -> bool:
    return urlsplit(url).hostname in LOOPBACK_HOSTS


@dataclass
class Served:
    """A served site with one user and that user's personal API key."""

    server: Server
    api_key: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A site served by `labvault serve`; its user's API key is made through the API."""
    site = make_site(tmp_path_factory.mktemp("doc-browser"))
    site.ok("db", "upgrade")
    server = Server(site, "--workers", "2")  # boots while the user is made
    try:
        token = new_user_token(site, EMAIL)
        server.wait_until_ready()
        request = urllib.request.Request(
            server.base_url + "/users/me/api-keys",
            data=json.dumps({"name": "swagger ui"}).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201
            api_key: str = json.loads(response.read())["key"]
        yield Served(server, api_key)
    finally:
        server.kill()


@dataclass
class Tab:
    """A page in its own browser context, with what it asked for and the errors it logged."""

    page: Page
    requested: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def route(self, route: Route) -> None:
        if is_loopback(route.request.url):
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort("blockedbyclient")

    def route_web_socket(self, socket: WebSocketRoute) -> None:
        self.requested.append(socket.url)
        if is_loopback(socket.url):
            socket.connect_to_server()
        else:
            self.blocked.append(socket.url)
            socket.close()

    def request(self, request: Request) -> None:
        self.requested.append(request.url)

    def console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text} at {message.location}")

    def page_error(self, error: Exception) -> None:
        self.errors.append(f"uncaught: {error}")

    def csp_violations(self) -> list[str]:
        violations: list[str] = self.page.evaluate("window.cspViolations")
        return violations


@pytest.fixture
def tab(labvault_chromium: Browser) -> Iterator[Tab]:
    """Every request of the context is recorded; only loopback ones may go out."""
    context = labvault_chromium.new_context(service_workers="block")
    try:
        tab = Tab(context.new_page())  # its first request comes with goto, after these
        context.route("**/*", tab.route)
        context.route_web_socket(re.compile(".*"), tab.route_web_socket)
        context.on("request", tab.request)
        context.add_init_script(RECORD_CSP_VIOLATIONS)
        tab.page.on("console", tab.console)
        tab.page.on("pageerror", tab.page_error)
        yield tab
    finally:
        context.close()


def test_doc_authorizes_with_an_api_key_and_runs_get_users_me(served: Served, tab: Tab) -> None:
    page = tab.page
    doc = page.goto(served.server.base_url + "/doc")
    assert doc is not None and doc.status == 200

    # 1. Authorize: the bearer scheme takes the personal API key
    page.locator(".auth-wrapper button.authorize").click()
    dialog = page.locator(".dialog-ux .modal-ux")
    expect(dialog).to_be_visible()
    dialog.locator("input[aria-label='auth-bearer-value']").fill(served.api_key)
    dialog.get_by_role("button", name="Apply credentials").click()
    expect(dialog.get_by_role("button", name="Remove authorization")).to_be_visible()
    dialog.get_by_role("button", name="Close", exact=True).click()
    expect(dialog).to_be_hidden()

    # 2. GET /users/me: expand it, Try it out, Execute
    operation = page.locator(".opblock.opblock-get").filter(
        has=page.locator(".opblock-summary-path[data-path='/users/me']")
    )
    expect(operation, "one GET /users/me operation on /doc").to_have_count(1)
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    with page.expect_response(served.server.base_url + "/users/me") as answered:
        operation.get_by_role("button", name="Execute").click()
    response = answered.value
    sent = f"Swagger UI sent {response.request.headers.get('authorization')!r}"
    got = f"the server answered {response.status}: {response.text().strip()}"

    # 3. the answer on the page: 200 and the user's email
    answer = operation.locator(".live-responses-table tr.response")
    status = answer.locator(".response-col_status")
    body = answer.locator(".response-col_description")
    expect(status, f"the status /doc shows for GET /users/me ({got})").to_have_text("200")
    expect(body, "the body /doc shows for GET /users/me").to_contain_text(EMAIL)
    assert response.request.headers.get("authorization") == f"Bearer {served.api_key}", sent

    # 4. nothing but loopback was asked for, Swagger UI's files came from labvault
    assert tab.blocked == [], f"/doc tried to reach other hosts (blocked): {tab.blocked}"
    assert [url for url in tab.requested if not is_loopback(url)] == [], tab.requested
    paths = {urlsplit(url).path for url in tab.requested}
    assert {"/doc/assets/swagger-ui-bundle.js", "/openapi.json"} <= paths, tab.requested
    assert tab.errors == [], "/doc logged errors:\n" + "\n".join(tab.errors)

    # 5. all of it under a policy that allows only this server's files and the page's own
    # inline script (by hash), and the page broke no rule of it
    policy = doc.headers["content-security-policy"]
    assert "script-src 'self' 'sha256-" in policy and "unsafe-inline" not in policy, policy
    assert "frame-ancestors 'none'" in policy, policy
    assert tab.csp_violations() == [], f"/doc broke its policy ({policy})"


# --- under a path prefix -----------------------------------------------------------------

PREFIX = "/labvault"


@pytest.fixture(scope="module")
def served_under_a_prefix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A site served by `labvault serve` at /labvault/, as gunicorn does with
    SCRIPT_NAME in its environment (the proxy passes the whole path on)."""
    site = make_site(tmp_path_factory.mktemp("doc-browser-prefix"))
    site.ok("db", "upgrade")
    server = Server(site, "--workers", "1", env={"SCRIPT_NAME": PREFIX})
    try:
        server.wait_until_ready()
        yield server
    finally:
        server.kill()


def test_doc_under_a_path_prefix_loads_and_tries_get_info_there(
    served_under_a_prefix: Server, tab: Tab
) -> None:
    base_url = served_under_a_prefix.base_url
    assert base_url.endswith(PREFIX)
    page = tab.page
    doc = page.goto(base_url + "/doc")
    assert doc is not None and doc.status == 200

    operation = page.locator(".opblock.opblock-get").filter(
        has=page.locator(".opblock-summary-path[data-path='/info']")
    )
    expect(operation, "one GET /info operation on /doc").to_have_count(1)
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    with page.expect_response(lambda r: urlsplit(r.url).path.endswith("/info")) as answered:
        operation.get_by_role("button", name="Execute").click()
    response = answered.value

    assert response.url == base_url + "/info", "Try it out called outside the prefix"
    status = operation.locator(".live-responses-table tr.response .response-col_status")
    expect(status, f"GET /info answered {response.status}").to_have_text("200")
    paths = [urlsplit(url).path for url in tab.requested]
    assert {f"{PREFIX}/doc/assets/swagger-ui-bundle.js", f"{PREFIX}/openapi.json"} <= set(paths)
    assert [path for path in paths if not path.startswith(PREFIX + "/")] == [], paths
    assert tab.blocked == [], tab.blocked
    assert tab.errors == [], "/doc logged errors:\n" + "\n".join(tab.errors)
    assert tab.csp_violations() == [], "/doc broke its policy"
