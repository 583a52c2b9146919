"""Rate limits of the sign-in and token routes: per client address, in the database.

Every attempt counts, accepted or refused; one more than the limit is 429 JSON with
Retry-After. Another address has its own count, and so has the other kind of route;
two apps on one database (two workers, two servers) share the count. SQLite is enough
here: the bucket itself (labvault.auth.limits) is tested on every database in
tests/test_signin_storage.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from labvault.errors import ConfigError

from tests.test_signin import CAMPUS, JSON, finish, start

ALICE = {"REMOTE_ADDR": "198.51.100.7"}
BOB = {"REMOTE_ADDR": "198.51.100.8"}
UNKNOWN_REFRESH = {"refresh_token": "lvr_" + "x" * 43}


@pytest.fixture
def labvault_database_url(tmp_path):
    return f"sqlite:///{tmp_path / 'labvault.db'}"


@pytest.fixture
def make_app(dists, labvault_make_app):
    """Apps with one sign-in provider, "uni" (unless the settings say otherwise), on
    this test's one database."""
    dists.add("campus", CAMPUS)

    def make(**settings: Any) -> Any:
        defaults = {"PLUGINS": ["campus"], "AUTH_PROVIDERS": {"uni": {"type": "campus"}}}
        return labvault_make_app(**{**defaults, **settings})

    return make


def assert_limited(response: Any, max_wait: int) -> int:
    """A 429 JSON answer with a Retry-After of at most ``max_wait`` seconds."""
    assert response.status_code == 429, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.json["code"] == 429
    assert "too many attempts" in response.json["message"]
    wait = int(response.headers["Retry-After"])
    assert 1 <= wait <= max_wait
    assert f"{wait} seconds" in response.json["message"]
    return wait


def refresh(client: Any, environ: dict[str, str] = ALICE) -> Any:
    return client.post("/auth/refresh", json=UNKNOWN_REFRESH, environ_base=environ)


def logout(client: Any, environ: dict[str, str] = ALICE) -> Any:
    return client.post("/auth/logout", json=UNKNOWN_REFRESH, environ_base=environ)


def create_key_for(headers: dict[str, str]) -> Callable[..., Any]:
    def create_key(client: Any, environ: dict[str, str] = ALICE) -> Any:
        return client.post(
            "/users/me/api-keys", json={"name": "k"}, headers=headers, environ_base=environ
        )

    return create_key


def login(client: Any, environ: dict[str, str] = ALICE) -> Any:
    return client.get("/auth/uni/login", environ_base=environ)


def test_the_attempt_over_the_limit_is_429_with_retry_after(make_app):
    client = make_app(RATE_LIMITS={"token": "3/minute"}).test_client()

    answers = [refresh(client).status_code for _ in range(3)]
    assert answers == [401, 401, 401]  # refused attempts count too
    # the bucket refills one attempt every 20 s: the next is allowed in at most 20 s
    assert assert_limited(refresh(client), 20) >= 15
    assert_limited(refresh(client), 20)  # and stays refused until then

    assert refresh(client, BOB).status_code == 401  # another address has its own count


#: Each token route, with its answer to an attempt within the limit.
TOKEN_ROUTES = {"refresh": 401, "logout": 204, "create api key": 201}


@pytest.mark.parametrize(("route", "allowed"), TOKEN_ROUTES.items(), ids=list(TOKEN_ROUTES))
def test_every_token_route_is_limited(make_app, labvault_make_user, route, allowed):
    app = make_app(RATE_LIMITS={"token": "2/hour"})
    call = {"refresh": refresh, "logout": logout}.get(route)
    if call is None:
        call = create_key_for(labvault_make_user(app).headers)
    client = app.test_client()

    assert [call(client).status_code for _ in range(2)] == [allowed, allowed]
    assert_limited(call(client), 1800)  # one attempt back every 30 minutes
    assert call(client, BOB).status_code == allowed


def test_creating_a_key_without_a_user_is_401_and_not_counted(make_app, labvault_make_user):
    app = make_app(RATE_LIMITS={"token": "1/hour"})
    create_key = create_key_for(labvault_make_user(app).headers)
    anonymous = create_key_for({})
    client = app.test_client()

    assert [anonymous(client).status_code for _ in range(3)] == [401, 401, 401]
    assert create_key(client).status_code == 201
    assert_limited(create_key(client), 3600)
    assert anonymous(client).status_code == 401


def test_the_token_routes_share_one_count(make_app, labvault_make_user):
    app = make_app(RATE_LIMITS={"token": "3/hour"})
    create_key = create_key_for(labvault_make_user(app).headers)
    client = app.test_client()

    assert refresh(client).status_code == 401
    assert logout(client).status_code == 204
    assert create_key(client).status_code == 201
    for call in (refresh, logout, create_key):
        assert_limited(call(client), 1200)
    assert create_key(client, BOB).status_code == 201


def test_starting_and_finishing_a_sign_in_are_limited_together(make_app):
    client = make_app(RATE_LIMITS={"signin": "3/minute"}).test_client()

    state = start(client)  # from 127.0.0.1, the test client's address
    assert finish(client, state, "ada:ada@lab.example", **JSON).status_code == 200
    assert login(client, {"REMOTE_ADDR": "127.0.0.1"}).status_code == 302
    assert_limited(login(client, {"REMOTE_ADDR": "127.0.0.1"}), 20)
    assert_limited(finish(client, state, "ada:ada@lab.example", **JSON), 20)

    assert login(client).status_code == 302  # another address
    assert refresh(client, {"REMOTE_ADDR": "127.0.0.1"}).status_code == 401  # another kind


def test_a_sign_in_with_no_such_provider_is_404_and_not_counted(make_app):
    client = make_app(RATE_LIMITS={"signin": "1/minute"}).test_client()

    for path in ("/auth/nowhere/login", "/auth/nowhere/callback"):
        assert client.get(path, environ_base=ALICE).status_code == 404
    assert login(client).status_code == 302
    assert_limited(login(client), 60)
    assert client.get("/auth/nowhere/login", environ_base=ALICE).status_code == 404


#: A sign-in provider with routes of its own, as an email link's are.
DOORBELL = """
    from labvault.plugin import AuthProvider, Blueprint, hookimpl

    class Doorbell(AuthProvider):
        name = "doorbell"

        def blueprints(self):
            blp = Blueprint("doorbell", __name__, url_prefix=f"/auth/{self.instance_name}")

            @blp.route("/ring", methods=["GET", "POST"])
            @blp.response(200)
            def ring():
                return {"rang": True}

            return [blp]

    @hookimpl
    def labvault_auth_provider_types():
        return [Doorbell]
"""


def test_a_providers_own_routes_are_limited_with_the_sign_ins(dists, make_app):
    dists.add("doorbell", DOORBELL)
    app = make_app(
        PLUGINS=["campus", "doorbell"],
        AUTH_PROVIDERS={"uni": {"type": "campus"}, "door": {"type": "doorbell"}},
        RATE_LIMITS={"signin": "3/minute"},
    )
    client = app.test_client()
    ring = {"path": "/auth/door/ring", "environ_base": ALICE}

    assert client.get(**ring).status_code == 200
    assert client.post(**ring).status_code == 200
    assert client.options(**ring).status_code == 200  # a CORS preflight is not counted
    assert login(client).status_code == 302  # one count with the redirect sign-ins
    assert_limited(client.get(**ring), 20)
    assert_limited(client.post(**ring), 20)
    assert client.get("/auth/door/elsewhere", environ_base=ALICE).status_code == 404
    assert client.get("/auth/door/ring", environ_base=BOB).status_code == 200


def test_two_apps_on_one_database_share_the_count(make_app):
    first = make_app(RATE_LIMITS={"token": "2/minute"}).test_client()
    second = make_app(RATE_LIMITS={"token": "2/minute"}).test_client()

    assert refresh(first).status_code == 401
    assert refresh(second).status_code == 401
    assert_limited(refresh(first), 30)
    assert_limited(refresh(second), 30)


def test_behind_a_proxy_each_forwarded_client_has_its_own_count(make_app):
    client = make_app(RATE_LIMITS={"token": "1/minute"}, PROXY_HOPS=1).test_client()

    def via_proxy(address: str) -> Any:
        return client.post(
            "/auth/refresh",
            json=UNKNOWN_REFRESH,
            headers={"X-Forwarded-For": address},
            environ_base={"REMOTE_ADDR": "10.0.0.1"},  # the proxy
        )

    assert via_proxy("203.0.113.1").status_code == 401
    assert_limited(via_proxy("203.0.113.1"), 60)
    assert via_proxy("203.0.113.2").status_code == 401


@pytest.mark.parametrize(
    "limits", [None, {"token": 0, "signin": None}, {"token": "0", "signin": 0}], ids=str
)
def test_limits_switched_off_count_nothing(make_app, limits):
    client = make_app(RATE_LIMITS=limits).test_client()

    assert {refresh(client).status_code for _ in range(40)} == {401}
    assert {login(client).status_code for _ in range(25)} == {302}


def test_one_kind_off_leaves_the_other_on(make_app):
    client = make_app(RATE_LIMITS={"token": None, "signin": "1/minute"}).test_client()

    assert {refresh(client).status_code for _ in range(40)} == {401}
    assert login(client).status_code == 302
    assert_limited(login(client), 60)


def test_the_defaults_are_on(make_app):
    app = make_app()
    assert app.extensions["labvault"].settings["RATE_LIMITS"] == {
        "signin": "20/minute",
        "token": "30/minute",
    }
    client = app.test_client()

    assert {refresh(client).status_code for _ in range(30)} == {401}
    assert_limited(refresh(client), 2)


def test_a_kind_left_out_keeps_its_default(make_app):
    settings = make_app(RATE_LIMITS={"token": "5/hour"}).extensions["labvault"].settings
    assert settings["RATE_LIMITS"] == {"signin": "20/minute", "token": "5/hour"}


@pytest.mark.parametrize(
    ("limits", "problem"),
    [
        ({"signin": "ten/minute"}, "RATE_LIMITS.signin: must be"),
        ({"token": "10/fortnight"}, "RATE_LIMITS.token: must be"),
        ({"token": "10 per minute"}, "RATE_LIMITS.token: must be"),
        ({"token": "-1/minute"}, "RATE_LIMITS.token: must be"),
        ({"token": 10}, "RATE_LIMITS.token: must be"),
        ({"token": True}, "RATE_LIMITS.token: must be"),
        ({"sign-in": "10/minute"}, "RATE_LIMITS.sign-in.key: not a kind of rate limit"),
        ("10/minute", "RATE_LIMITS: Not a valid mapping type."),
    ],
)
def test_a_bad_limit_stops_startup_naming_it(labvault_make_app, limits, problem):
    with pytest.raises(ConfigError) as refused:
        labvault_make_app(RATE_LIMITS=limits)
    [line] = refused.value.problems
    assert line.startswith(problem), line


def test_the_limited_routes_document_429_with_retry_after(make_app):
    spec = make_app().test_client().get("/openapi.json").json
    limited = [
        ("post", "/auth/refresh"),
        ("post", "/auth/logout"),
        ("post", "/users/me/api-keys"),
        ("get", "/auth/{instance}/login"),
        ("get", "/auth/{instance}/callback"),
    ]
    for method, path in limited:
        answer = spec["paths"][path][method]["responses"]["429"]
        assert "Retry-After" in answer["headers"], (method, path)
        assert answer["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
    assert "429" not in spec["paths"]["/users/me/api-keys"]["get"]["responses"]
