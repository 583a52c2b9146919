"""What an attacker prepares for someone else's sign-in does not work.

A sign-in belongs to the browser that started it, and a link is confirmed by a person:
a callback URL, a link's URL or a confirmation made in one browser does nothing in
another. Each test client is one browser with its own cookies: the attacker's and the
victim's. The campus provider of test_signin stands in for every redirect provider; the
plugins test the same with their real protocols (a local OpenID provider, a stand-in
GitHub).

A line break in ``next`` would end up in the callback's ``Location`` header: it is
refused when the sign-in starts, and a flow that holds one (kept before the check, or
whose origin is no longer allowed) gets a clear 422 at the callback, never a 500.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from labvault.auth.models import LinkedIdentity, SignInTicket, User
from labvault.db import begin_write
from labvault.testing import page_form
from labvault.web.session import get_session

from tests.records import assert_error
from tests.test_signin import (
    CAMPUS,
    JSON,
    ORIGIN,
    confirm,
    finish,
    me,
    open_in_browser,
    sign_in,
    start,
    start_link,
    state_of,
)

SERVER = "http://localhost"
COOKIE = "labvault-signin"


@pytest.fixture
def labvault_database_url(tmp_path):
    return f"sqlite:///{tmp_path / 'labvault.db'}"  # nothing here differs between databases


@pytest.fixture
def app(dists, labvault_make_app):
    dists.add("campus", CAMPUS)
    return labvault_make_app(
        PLUGINS=["campus"],
        AUTH_PROVIDERS={"uni": {"type": "campus", "display_name": "University"}},
        ALLOWED_REDIRECT_ORIGINS=[ORIGIN],
        PUBLIC_URL=SERVER,
    )


def count(app: Any, model: Any) -> int:
    with app.app_context():
        return get_session().scalar(sa.select(sa.func.count()).select_from(model)) or 0


def test_login_binds_the_flow_to_a_cookie_of_this_browser(app):
    browser = app.test_client()

    login = browser.get("/auth/uni/login")

    assert login.status_code == 302
    cookie = browser.get_cookie(COOKIE)
    assert cookie is not None, login.headers.getlist("Set-Cookie")
    assert (cookie.http_only, cookie.same_site, cookie.path, cookie.secure) == (
        True,
        "Lax",
        "/",
        False,
    )
    assert len(cookie.value) >= 40
    assert 0 < cookie.max_age <= 600
    # a second sign-in in the same browser (another tab) keeps the first one working
    first, second = state_of(login.headers["Location"]), start(browser)
    assert browser.get_cookie(COOKIE).value == cookie.value
    assert finish(browser, second, "ada", **JSON).status_code == 200
    assert finish(browser, first, "ada", **JSON).status_code == 200


def test_over_https_the_cookie_is_host_prefixed_and_secure(dists, labvault_make_app):
    dists.add("campus", CAMPUS)
    public = "https://labvault.example.org"
    app = labvault_make_app(
        PLUGINS=["campus"], AUTH_PROVIDERS={"uni": {"type": "campus"}}, PUBLIC_URL=public
    )
    browser = app.test_client()

    login = browser.get("/auth/uni/login", base_url=public)

    [set_cookie] = login.headers.getlist("Set-Cookie")
    assert set_cookie.startswith("__Host-labvault-signin=")
    attributes = {part.strip().split("=")[0].lower() for part in set_cookie.split(";")[1:]}
    assert {"secure", "httponly", "path", "samesite", "max-age"} <= attributes
    assert "domain" not in attributes
    assert "Path=/;" in set_cookie + ";" and "SameSite=Lax" in set_cookie
    callback = browser.get(
        "/auth/uni/callback",
        query_string={"state": state_of(login.headers["Location"]), "code": "ada"},
        headers=JSON,
        base_url=public,
    )
    assert callback.status_code == 200, callback.json


def test_a_callback_opened_in_another_browser_signs_nobody_in(app):
    attacker, victim = app.test_client(), app.test_client()
    # the attacker signs in at the provider, keeps the callback URL and sends it on
    state = start(attacker)

    refused = assert_error(finish(victim, state, "mallory:mallory@lab.example", **JSON), 400)

    assert "started in another browser" in refused["message"]
    assert count(app, User) == 0
    assert count(app, LinkedIdentity) == 0


def test_a_sign_in_started_as_json_belongs_to_the_browser_that_opens_it(app):
    script, browser = app.test_client(), app.test_client()

    started = script.get("/auth/uni/login", headers=JSON)

    assert started.status_code == 200
    assert started.json["expires_in"] == 600
    url = started.json["authorization_url"]
    assert url.startswith(f"{SERVER}/auth/uni/continue?")
    assert script.get_cookie(COOKIE) is None  # the script's answer binds no browser
    provider_url = open_in_browser(browser, url)
    assert provider_url.startswith("https://sso.example.org/authorize?")
    assert browser.get_cookie(COOKIE) is not None
    # the URL opens once: a second browser cannot take the flow over
    assert_error(app.test_client().get(urlsplit(url).path + "?" + urlsplit(url).query), 400)
    refused = assert_error(finish(script, state_of(provider_url), "ada", **JSON), 400)
    assert "started in another browser" in refused["message"]
    # started again, in the browser: it signs in
    again = open_in_browser(
        browser, script.get("/auth/uni/login", headers=JSON).json["authorization_url"]
    )
    signed_in = finish(browser, state_of(again), "ada", **JSON)
    assert me(browser, signed_in.json)["display_name"] == "Ada"
    # a client that opens the URL asking for JSON is that browser: it gets where to go
    held = urlsplit(script.get("/auth/uni/login", headers=JSON).json["authorization_url"])
    opened = script.get(held.path, query_string=held.query, headers=JSON)
    assert opened.status_code == 200, opened.json
    assert opened.headers["Cache-Control"] == "no-store"
    provider_url = opened.json["authorization_url"]
    assert provider_url.startswith("https://sso.example.org/authorize?")
    assert finish(script, state_of(provider_url), "bob", **JSON).status_code == 200


def test_a_link_ends_on_a_page_naming_the_account_and_links_nothing_until_confirmed(
    app, labvault_make_user
):
    attacker = labvault_make_user(app, email="mallory@lab.example")
    script, victim = app.test_client(), app.test_client()
    started = script.get("/auth/uni/login?link=true", headers={**attacker.headers, **JSON})
    assert started.status_code == 200, started.json

    # the victim opens the attacker's URL and signs in at the provider as themself
    provider_url = open_in_browser(victim, started.json["authorization_url"])
    page = finish(victim, state_of(provider_url), "victim:victim@lab.example")

    assert count(app, LinkedIdentity) == 0
    assert page.status_code == 200 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert "mallory@lab.example" in text and "University" in text
    assert "victim@lab.example" in text
    assert page.headers["Cache-Control"] == "no-store"
    # the victim does not confirm; their own sign-in reaches an account of their own
    own = me(victim, sign_in(victim, "victim:victim@lab.example"))
    assert own["id"] != attacker.id and own["email"] == "victim@lab.example"
    assert client_identities(victim, attacker.headers) == []


def client_identities(client: Any, headers: dict[str, str]) -> list[tuple[str, str]]:
    answer = client.get("/users/me/identities", headers=headers)
    assert answer.status_code == 200, answer.json
    return [(identity["provider"], identity["subject"]) for identity in answer.json]


def test_a_confirmed_link_needs_this_servers_origin_and_the_same_browser(app, labvault_make_user):
    ada = labvault_make_user(app, email="ada@lab.example")
    browser = app.test_client()
    page = finish(browser, start_link(browser, ada.headers, "uni"), "ada-uni")
    action, fields = page_form(page.get_data(as_text=True))
    assert action == "/auth/uni/link"
    # the page renews the browser's cookie, to last as long as the page may be pressed
    [renewed] = page.headers.getlist("Set-Cookie")
    assert renewed.startswith(f"{COOKIE}={browser.get_cookie(COOKIE).value};")

    foreign = browser.post(action, data=fields, headers={"Origin": "https://evil.example", **JSON})
    assert "another site" in assert_error(foreign, 403)["message"]
    assert_error(browser.post(action, data=fields, headers={"Origin": "null", **JSON}), 403)
    elsewhere = app.test_client().post(action, data=fields, headers={"Origin": SERVER, **JSON})
    assert "started in another browser" in assert_error(elsewhere, 400)["message"]
    assert count(app, LinkedIdentity) == 0

    linked = browser.post(action, data=fields, headers={"Origin": SERVER, **JSON})
    assert linked.status_code == 200, linked.json
    assert me(browser, linked.json)["id"] == ada.id
    assert client_identities(browser, ada.headers) == [("uni", "ada-uni")]
    assert_error(browser.post(action, data=fields, headers={"Origin": SERVER, **JSON}), 400)
    assert me(browser, sign_in(browser, "ada-uni"))["id"] == ada.id


def test_the_confirmation_page_runs_no_script_and_posts_only_here(app, labvault_make_user):
    ada = labvault_make_user(app)
    browser = app.test_client()
    page = finish(browser, start_link(browser, ada.headers, "uni"), "x")

    policy = dict(
        (directive.split()[0], directive.split()[1:])
        for directive in page.headers["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "script-src" not in policy
    assert "<script" not in page.get_data(as_text=True)
    # a form posted under "no-referrer" would carry "Origin: null"
    assert page.headers["Referrer-Policy"] == "strict-origin"


def test_a_confirmed_link_sends_the_tokens_to_next(app, labvault_make_user):
    ada = labvault_make_user(app)
    browser = app.test_client()
    page = finish(browser, start_link(browser, ada.headers, "uni", next=f"{ORIGIN}/linked"), "x")
    # the form's answer redirects there, which the page's form-action allows
    assert f"form-action 'self' {ORIGIN}" in page.headers["Content-Security-Policy"]

    linked = confirm(browser, page)

    assert linked.status_code == 302
    target, fragment = linked.headers["Location"].split("#")
    assert target == f"{ORIGIN}/linked"
    assert me(browser, {k: v[0] for k, v in parse_qs(fragment).items()})["id"] == ada.id


def test_an_identity_linked_elsewhere_is_refused_before_any_confirmation(app, labvault_make_user):
    browser = app.test_client()
    sign_in(browser, "ada")  # the identity has an account of its own
    bob = labvault_make_user(app)

    refused = assert_error(finish(browser, start_link(browser, bob.headers, "uni"), "ada"), 409)

    assert "already linked to another labvault account" in refused["message"]


@pytest.mark.parametrize("line_break", ["\r\n", "\n", "\r"], ids=["crlf", "lf", "cr"])
def test_a_next_with_a_line_break_is_refused_at_login(app, line_break):
    next_url = f"{ORIGIN}/after{line_break}Set-Cookie: planted=1"

    refused = app.test_client().get("/auth/uni/login", query_string={"next": next_url})

    body = assert_error(refused, 422, "next", location="query")
    assert "line break" in body["errors"]["query"]["next"][0]


def test_a_stored_next_with_a_line_break_is_a_clear_error_not_a_500(app):
    browser = app.test_client()
    state = start(browser, next=f"{ORIGIN}/after")
    with app.app_context():  # as a flow started before line breaks were refused holds it
        session = get_session()
        begin_write(session)
        ticket = session.scalars(sa.select(SignInTicket)).one()
        ticket.data = {**ticket.data, "next": f"{ORIGIN}/after\r\nSet-Cookie: planted=1"}
        session.commit()

    refused = finish(browser, state, "ada")

    assert_error(refused, 422, "next", location="query")
    assert count(app, User) == 0
