"""Signing in through a provider: the core's flow, rules, identities and linking.

A small redirect provider (a real plugin distribution) stands in for GitHub, ORCID and
the others: it trusts the ``code`` it gets back (``subject`` or ``subject:email``, an
email it says it verified) but checks the PKCE verifier and nonce against what its
authorization URL carried, as a real one has the provider do. The plugins test the real
protocols end to end; these tests pin what the core does the same way for all of them.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from labvault.auth.models import LinkedIdentity, SignInTicket, User
from labvault.db import begin_write
from labvault.testing import TEST_PUBLIC_URL, TestUser, page_form
from labvault.web.session import get_session

from tests.records import assert_error

CAMPUS = """
    import base64
    import hashlib
    from urllib.parse import urlencode

    import marshmallow as ma
    from labvault.plugin import AuthProvider, Identity, Unauthenticated, hookimpl

    flows = {}  # state -> (code_challenge, nonce), as the provider remembers them

    class Options(ma.Schema):
        allow_list = ma.fields.List(ma.fields.String(), load_default=None, allow_none=True)
        display_name = ma.fields.String(load_default="Campus")

    class Campus(AuthProvider):
        name = "campus"
        OptionsSchema = Options

        def authorization_url(self, request):
            flows[request.state] = (request.code_challenge, request.nonce)
            query = urlencode(
                {"state": request.state, "code_challenge": request.code_challenge,
                 "code_challenge_method": "S256", "nonce": request.nonce,
                 "redirect_uri": request.redirect_uri}
            )
            return f"https://sso.example.org/authorize?{query}"

        def identity_from_callback(self, callback):
            challenge, nonce = flows.pop(callback.params["state"])
            digest = hashlib.sha256(callback.code_verifier.encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != challenge:
                raise Unauthenticated("the PKCE verifier does not match")
            if callback.nonce != nonce:
                raise Unauthenticated("the nonce does not match")
            subject, _, email = callback.params["code"].partition(":")
            return Identity(self.instance_name, subject, email or None, bool(email),
                            display_name=subject.title())

    @hookimpl
    def labvault_auth_provider_types():
        return [Campus]
"""
ORIGIN = "https://notebook.lab.example"
JSON = {"Accept": "application/json"}


@pytest.fixture
def labvault_database_url(tmp_path):
    return f"sqlite:///{tmp_path / 'labvault.db'}"


@pytest.fixture
def make_site(dists, labvault_make_app):
    """An app with two campus instances ("uni" and "lab"), each with its allow list."""
    dists.add("campus", CAMPUS)

    def make(uni: list[str] | None = None, lab: list[str] | None = None) -> Any:
        return labvault_make_app(
            PLUGINS=["campus"],
            AUTH_PROVIDERS={
                "uni": {"type": "campus", "allow_list": uni, "display_name": "University"},
                "lab": {"type": "campus", "allow_list": lab},
            },
            ALLOWED_REDIRECT_ORIGINS=[ORIGIN],
        )

    return make


@pytest.fixture
def app(make_site):
    return make_site()


def start(client: Any, instance: str = "uni", **query: str) -> str:
    """Start a sign-in; returns its state."""
    response = client.get(f"/auth/{instance}/login", query_string=query)
    assert response.status_code == 302, response.get_data(as_text=True)
    return parse_qs(urlsplit(response.headers["Location"]).query)["state"][0]


def state_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["state"][0]


def open_in_browser(browser: Any, url: str) -> str:
    """A browser opens a URL a script got, and lands at the provider: its URL there."""
    parts = urlsplit(url)
    if f"{parts.scheme}://{parts.netloc}" != TEST_PUBLIC_URL:
        return url
    response = browser.get(parts.path, query_string=parts.query)
    assert response.status_code == 302, response.get_data(as_text=True)
    return str(response.headers["Location"])


def start_link(browser: Any, headers: dict[str, str], instance: str = "lab", **query: str) -> str:
    """A script with an account's bearer ``headers`` starts a link, and the browser opens
    its URL: the link's state."""
    started = browser.get(
        f"/auth/{instance}/login",
        query_string={"link": "true", **query},
        headers={**headers, **JSON},
    )
    assert started.status_code == 200, started.json
    return state_of(open_in_browser(browser, started.json["authorization_url"]))


def confirm(browser: Any, page: Any, **headers: str) -> Any:
    """Press the button of a link's confirmation page (this server's page)."""
    assert page.status_code == 200, page.get_data(as_text=True)
    action, fields = page_form(page.get_data(as_text=True))
    return browser.post(action, data=fields, headers={"Origin": TEST_PUBLIC_URL, **headers})


def finish(client: Any, state: str, code: str, instance: str = "uni", **headers: str) -> Any:
    query = {"state": state, "code": code}
    return client.get(f"/auth/{instance}/callback", query_string=query, headers=headers)


def sign_in(client: Any, code: str, instance: str = "uni") -> dict[str, Any]:
    """A whole sign-in; returns the tokens."""
    response = finish(client, start(client, instance), code, instance, **JSON)
    assert response.status_code == 200, response.json
    tokens: dict[str, Any] = response.json
    return tokens


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def me(client: Any, tokens: dict[str, Any]) -> dict[str, Any]:
    answer = client.get("/users/me", headers=bearer(tokens))
    assert answer.status_code == 200, answer.json
    body: dict[str, Any] = answer.json
    return body


def test_providers_are_listed_with_where_signing_in_starts(app):
    client = app.test_client()
    expected = [
        {
            "name": "uni",
            "type": "campus",
            "display_name": "University",
            "login_url": "/auth/uni/login",
        },
        {"name": "lab", "type": "campus", "display_name": "Campus", "login_url": "/auth/lab/login"},
    ]

    assert client.get("/auth/providers").json == expected
    assert client.get("/info").json["login_providers"] == expected
    assert_error(client.get("/auth/nope/login"), 404)
    assert_error(client.get("/auth/nope/callback?state=x&code=y"), 404)


def test_login_redirects_with_state_nonce_and_pkce_s256(app):
    client = app.test_client()

    response = client.get("/auth/uni/login")

    assert response.status_code == 302
    assert response.headers["Cache-Control"] == "no-store"
    url = urlsplit(response.headers["Location"])
    query = {key: values[0] for key, values in parse_qs(url.query).items()}
    assert (url.netloc, query["code_challenge_method"]) == ("sso.example.org", "S256")
    assert query["redirect_uri"] == "http://localhost/auth/uni/callback"
    assert len(query["state"]) >= 40 and len(query["nonce"]) >= 30
    with app.app_context():
        flow = get_session().scalars(sa.select(SignInTicket)).one()
    # the database holds the state's hash only, and the verifier the challenge came from
    assert flow.token_hash == hashlib.sha256(query["state"].encode()).hexdigest()
    digest = hashlib.sha256(flow.data["code_verifier"].encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == query["code_challenge"]
    assert flow.expires_at - flow.created_at == dt.timedelta(minutes=10)
    as_json = client.get("/auth/uni/login", headers=JSON)
    assert as_json.status_code == 200
    assert as_json.json["authorization_url"].startswith("http://localhost/auth/uni/continue?")
    assert as_json.json["expires_in"] == 600


def test_the_callback_url_is_under_public_url_when_set(dists, labvault_make_app):
    dists.add("campus", CAMPUS)
    app = labvault_make_app(
        PLUGINS=["campus"],
        AUTH_PROVIDERS={"uni": {"type": "campus"}},
        PUBLIC_URL="https://labvault.example.org/lab/",
    )

    login = app.test_client().get("/auth/uni/login", headers={"Host": "evil.example"})

    query = parse_qs(urlsplit(login.headers["Location"]).query)
    assert query["redirect_uri"] == ["https://labvault.example.org/lab/auth/uni/callback"]


def test_a_first_sign_in_registers_an_unverified_account_that_only_sees_itself(app):
    client = app.test_client()

    tokens = sign_in(client, "ada:ada@lab.example")

    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 15 * 60
    account = me(client, tokens)
    assert (account["email"], account["display_name"], account["status"]) == (
        "ada@lab.example",
        "Ada",
        "unverified",
    )
    for path in ("/items", "/collections", "/users/me/api-keys"):
        refused = assert_error(client.get(path, headers=bearer(tokens)), 403)
        assert "waiting for an admin to activate it" in refused["message"]
    identities = client.get("/users/me/identities", headers=bearer(tokens)).json
    assert [(i["provider"], i["subject"], i["email_verified"]) for i in identities] == [
        ("uni", "ada", True)
    ]
    # the same identity reaches the same account; refresh works for it too
    assert me(client, sign_in(client, "ada:ada@lab.example"))["id"] == account["id"]
    renewed = client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert renewed.status_code == 200


def test_without_json_the_tokens_are_shown_on_a_page_and_never_cached(app):
    client = app.test_client()

    page = finish(client, start(client), "ada")

    assert page.status_code == 200 and page.mimetype == "text/html"
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    text = page.get_data(as_text=True)
    assert "works for 15 minutes" in text and 'href="/doc"' in text
    with app.app_context():
        user = get_session().scalars(sa.select(User)).one()
    token = text.split('id="access-token" rows="6" readonly>')[1].split("<")[0]
    assert me(client, {"access_token": token})["id"] == user.id


def test_next_gets_the_tokens_in_its_fragment_and_only_on_allowed_origins(app):
    client = app.test_client()

    state = start(client, next=f"{ORIGIN}/after?x=1")
    response = finish(client, state, "ada")

    assert response.status_code == 302
    target, fragment = response.headers["Location"].split("#")
    assert target == f"{ORIGIN}/after?x=1"
    tokens = {key: values[0] for key, values in parse_qs(fragment).items()}
    assert me(client, tokens)["display_name"] == "Ada"
    for elsewhere in (
        "https://evil.example/steal",
        "https://notebook.lab.example.evil.example/",
        "https://user@notebook.lab.example/",
        "http://notebook.lab.example/",
        "javascript:alert(1)",
        "/relative",
    ):
        refused = client.get("/auth/uni/login", query_string={"next": elsewhere})
        assert_error(refused, 422, "next", location="query")


@pytest.mark.parametrize("case", ["unknown", "replayed", "expired", "other provider", "missing"])
def test_a_callback_needs_the_live_state_of_its_own_provider(app, case):
    client = app.test_client()
    state = start(client)
    if case == "unknown":
        state = state[:-4] + "AAAA"
    elif case == "replayed":
        assert finish(client, state, "ada", **JSON).status_code == 200
    elif case == "expired":
        with app.app_context():
            session = get_session()
            begin_write(session)
            session.execute(sa.update(SignInTicket).values(expires_at=SignInTicket.created_at))
            session.commit()
    elif case == "missing":
        state = ""

    instance = "lab" if case == "other provider" else "uni"
    refused = assert_error(finish(client, state, "ada", instance, **JSON), 400)

    assert "unknown, expired (after 10 minutes) or already finished" in refused["message"]


def test_a_provider_refusal_and_a_failed_check_are_clear_errors(app):
    client = app.test_client()

    denied = client.get(
        "/auth/uni/callback",
        query_string={"state": start(client), "error": "access_denied"},
    )
    assert_error(denied, 403)
    assert denied.json["message"] == "University did not sign you in: access_denied"

    state = start(client)
    with app.app_context():  # a verifier that no longer matches the challenge sent
        session = get_session()
        begin_write(session)
        flow = session.scalars(sa.select(SignInTicket).where(SignInTicket.used_at.is_(None)))
        ticket = flow.one()
        ticket.data = {**ticket.data, "code_verifier": "x" * 64}
        session.commit()
    failed = assert_error(finish(client, state, "ada"), 401)
    assert failed["message"] == "the PKCE verifier does not match"


@pytest.mark.parametrize(
    ("allow_list", "code", "expected"),
    [
        (None, "ada", "unverified"),
        ([], "ada", 403),
        (["ada"], "ada", "active"),
        (["bob"], "ada", 403),
    ],
    ids=["none-registers-unverified", "empty-registers-nobody", "listed", "not-listed"],
)
def test_the_allow_list_decides_who_registers_and_how(make_site, allow_list, code, expected):
    client = make_site(uni=allow_list).test_client()

    response = finish(client, start(client), code, **JSON)

    if expected == 403:
        assert_error(response, 403)
        with client.application.app_context():
            assert get_session().scalar(sa.select(sa.func.count()).select_from(User)) == 0
    else:
        assert me(client, response.json)["status"] == expected


def test_an_empty_allow_list_still_lets_existing_accounts_in(make_site, labvault_make_user):
    app = make_site(uni=[])
    ada = labvault_make_user(app, email="ada@lab.example")
    client = app.test_client()

    assert me(client, sign_in(client, "ada-7:ADA@lab.example"))["id"] == ada.id
    refused = assert_error(finish(client, start(client), "bob:bob@lab.example", **JSON), 403)
    assert (
        refused["message"]
        == "University: new accounts cannot register here; ask an admin to invite you"
    )


def test_a_list_is_checked_at_every_sign_in_and_activates_who_it_admits(make_site):
    open_site = make_site()
    client = open_site.test_client()
    unverified = me(client, sign_in(client, "ada"))
    assert unverified["status"] == "unverified"

    listed = make_site(uni=["ada"]).test_client()  # the same database, now with a list
    assert me(listed, sign_in(listed, "ada"))["status"] == "active"
    assert me(listed, sign_in(listed, "ada"))["id"] == unverified["id"]
    refused = assert_error(finish(listed, start(listed), "bob", **JSON), 403)
    assert refused["message"] == "University: you are not on the list of who may sign in here"


def test_a_deactivated_account_cannot_sign_in(app, labvault_make_user):
    labvault_make_user(app, status="deactivated", email="gone@lab.example")
    client = app.test_client()

    refused = assert_error(finish(client, start(client), "gone:gone@lab.example", **JSON), 403)

    assert refused["message"] == "the account is deactivated"


def test_only_an_email_both_sides_verified_joins_accounts(app, labvault_make_user):
    ada = labvault_make_user(app, email="ada@lab.example")
    client = app.test_client()

    assert me(client, sign_in(client, "ada-gh:ada@lab.example"))["id"] == ada.id
    # an account registered by a sign-in without a verified email has no address, so a
    # later sign-in with that address verified reaches the admin-made account instead
    stranger = me(client, sign_in(client, "mallory"))
    assert stranger["email"] is None and stranger["id"] != ada.id


def test_linking_adds_an_identity_and_unlinking_never_removes_the_last(app):
    client = app.test_client()
    tokens = sign_in(client, "ada")
    account = me(client, tokens)

    assert_error(client.get("/auth/lab/login?link=true"), 401)
    page = finish(client, start_link(client, bearer(tokens)), "ada-lab", "lab")
    linked = confirm(client, page, **JSON)

    assert linked.status_code == 200, linked.json
    assert me(client, sign_in(client, "ada-lab", "lab"))["id"] == account["id"]
    identities = client.get("/users/me/identities", headers=bearer(tokens)).json
    assert [(i["provider"], i["subject"]) for i in identities] == [
        ("uni", "ada"),
        ("lab", "ada-lab"),
    ]

    # an identity already linked to someone else is never moved to this account
    bob = sign_in(client, "bob")
    assert_error(finish(client, start_link(client, bearer(bob)), "ada-lab", "lab", **JSON), 409)

    first, second = (identity["id"] for identity in identities)
    assert client.delete(f"/users/me/identities/{first}", headers=bearer(tokens)).status_code == 204
    assert_error(client.delete(f"/users/me/identities/{first}", headers=bearer(tokens)), 404)
    last = assert_error(
        client.delete(f"/users/me/identities/{second}", headers=bearer(tokens)), 409
    )
    assert "only way to sign in" in last["message"]
    assert_error(client.delete(f"/users/me/identities/{second}", headers=bearer(bob)), 404)
    assert me(client, sign_in(client, "ada-lab", "lab"))["id"] == account["id"]


def test_identities_need_a_signed_in_user(app, labvault_make_user):
    client = app.test_client()
    admin: TestUser = labvault_make_user(app, role="admin")

    assert_error(client.get("/users/me/identities"), 401)
    assert client.get("/users/me/identities", headers=admin.headers).json == []
    with app.app_context():
        assert get_session().scalar(sa.select(sa.func.count()).select_from(LinkedIdentity)) == 0
