"""/users: who am I, and for admins the list of users and changing role and status.

Changes need the user's ETag in If-Match (from GET /users/{id} or a previous PATCH), so
two admins editing one account cannot silently overwrite each other.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import pytest
import sqlalchemy as sa
from labvault.auth.models import User
from labvault.auth.service import start_session
from labvault.db import begin_write
from labvault.web.access import INVALID_TOKEN_MESSAGE
from labvault.web.session import get_session

USER_FIELDS = {"id", "email", "display_name", "role", "status", "created_at", "updated_at"}


def stored_user(app: Any, user_id: int) -> dict[str, Any]:
    with app.app_context():
        table = User.__table__
        row = get_session().execute(sa.select(table).where(table.c.id == user_id)).mappings()
        return dict(row.one())


def etag_of(client: Any, admin: Any, user_id: int) -> str:
    response = client.get(f"/users/{user_id}", headers=admin.headers)
    assert response.status_code == 200
    etag: str = response.headers["ETag"]
    return etag


def patch(client: Any, admin: Any, user_id: int, changes: Any, etag: str | None) -> Any:
    headers = dict(admin.headers)
    if etag is not None:
        headers["If-Match"] = etag
    return client.patch(f"/users/{user_id}", json=changes, headers=headers)


def assert_error(response: Any, code: int, message: str | None = None) -> None:
    assert response.status_code == code, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.json["code"] == code
    assert response.json["message"]
    if message is not None:
        assert message in response.json["message"]


@pytest.mark.parametrize("status", ["active", "unverified"])
def test_me_shows_the_signed_in_user(shared_app, labvault_make_user, status):
    user = labvault_make_user(shared_app, role="manager", status=status)
    response = shared_app.test_client().get("/users/me", headers=user.headers)
    assert response.status_code == 200
    body = response.json
    assert set(body) == USER_FIELDS
    assert (body["id"], body["email"]) == (user.id, user.email)
    assert (body["role"], body["status"]) == ("manager", status)
    assert body["display_name"] == user.email.split("@")[0]


def test_user_routes_need_a_signed_in_user(shared_app, labvault_make_user, subtests):
    admin = labvault_make_user(shared_app, role="admin")
    client = shared_app.test_client()
    for method, path in [
        ("GET", "/users/me"),
        ("GET", "/users"),
        ("GET", f"/users/{admin.id}"),
        ("PATCH", f"/users/{admin.id}"),
    ]:
        with subtests.test(method=method, path=path):
            body = {"role": "user"} if method == "PATCH" else None
            response = client.open(path, method=method, json=body, headers={"If-Match": "*"})
            assert_error(response, 401, "authentication required")
            assert response.headers["WWW-Authenticate"] == 'Bearer realm="labvault"'
    assert stored_user(shared_app, admin.id)["role"] == "admin"


def test_admins_list_users_page_by_page(shared_app, labvault_make_user):
    admin = labvault_make_user(shared_app, role="admin")
    others = [labvault_make_user(shared_app) for _ in range(4)]
    ids = [admin.id] + [user.id for user in others]
    client = shared_app.test_client()

    everyone = client.get("/users", headers=admin.headers)
    assert everyone.status_code == 200
    assert [user["id"] for user in everyone.json] == ids  # oldest first
    assert set(everyone.json[0]) == USER_FIELDS

    page = client.get("/users?page=2&page_size=2", headers=admin.headers)
    assert page.status_code == 200
    assert [user["id"] for user in page.json] == ids[2:4]
    assert json.loads(page.headers["X-Pagination"]) == {
        "total": 5,
        "total_pages": 3,
        "first_page": 1,
        "last_page": 3,
        "page": 2,
        "previous_page": 1,
        "next_page": 3,
        "total_exact": True,
    }
    last = client.get("/users?page=3&page_size=2", headers=admin.headers)
    assert [user["id"] for user in last.json] == ids[4:]
    beyond = client.get("/users?page=4&page_size=2", headers=admin.headers)
    assert beyond.status_code == 200
    assert beyond.json == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page_size=101", "page_size"),
        ("page_size=0", "page_size"),
        ("page=0", "page"),
        ("page=two", "page"),
    ],
)
def test_bad_pagination_arguments_are_422(shared_app, labvault_make_user, query, field):
    admin = labvault_make_user(shared_app, role="admin")
    client = shared_app.test_client()
    response = client.get(f"/users?{query}", headers=admin.headers)
    assert_error(response, 422)
    assert field in response.json["errors"]["query"], query
    assert client.get("/users?page_size=100", headers=admin.headers).status_code == 200


@pytest.mark.parametrize("role", ["user", "manager"])
def test_only_admins_may_list_see_or_change_users(shared_app, labvault_make_user, role):
    target = labvault_make_user(shared_app)
    client = shared_app.test_client()
    caller = labvault_make_user(shared_app, role=role)
    for response in (
        client.get("/users", headers=caller.headers),
        client.get(f"/users/{target.id}", headers=caller.headers),
        patch(client, caller, target.id, {"role": "admin"}, "*"),
        patch(client, caller, caller.id, {"role": "admin"}, "*"),
    ):
        assert_error(response, 403, "admin role")
    assert stored_user(shared_app, target.id)["role"] == "user"


def test_admins_see_one_user_with_its_etag(shared_app, labvault_make_user):
    admin = labvault_make_user(shared_app, role="admin")
    user = labvault_make_user(shared_app, status="unverified")
    client = shared_app.test_client()

    response = client.get(f"/users/{user.id}", headers=admin.headers)
    assert response.status_code == 200
    listed = {item["id"]: item for item in client.get("/users", headers=admin.headers).json}
    assert response.json == listed[user.id]
    assert response.headers["ETag"]
    unchanged = client.get(
        f"/users/{user.id}", headers={**admin.headers, "If-None-Match": response.headers["ETag"]}
    )
    assert unchanged.status_code == 304

    assert_error(client.get("/users/999999", headers=admin.headers), 404, "no user")


def test_changing_a_user_needs_its_current_etag(shared_app, labvault_make_user):
    admin = labvault_make_user(shared_app, role="admin")
    user = labvault_make_user(shared_app)
    client = shared_app.test_client()

    assert_error(patch(client, admin, user.id, {"role": "manager"}, None), 428)
    assert_error(patch(client, admin, user.id, {"role": "manager"}, '"not-the-etag"'), 412)
    assert stored_user(shared_app, user.id)["role"] == "user"

    etag = etag_of(client, admin, user.id)
    response = patch(client, admin, user.id, {"role": "manager"}, etag)
    assert response.status_code == 200
    assert response.json["role"] == "manager"
    assert response.json["status"] == "active"
    assert stored_user(shared_app, user.id)["role"] == "manager"

    # the answer's ETag allows the next change; the one used before is now stale
    assert_error(patch(client, admin, user.id, {"status": "deactivated"}, etag), 412)
    again = patch(client, admin, user.id, {"status": "deactivated"}, response.headers["ETag"])
    assert again.status_code == 200
    assert stored_user(shared_app, user.id)["status"] == "deactivated"
    assert again.headers["ETag"] == etag_of(client, admin, user.id)


def test_two_admins_cannot_overwrite_each_other(shared_app, labvault_make_user):
    first = labvault_make_user(shared_app, role="admin")
    second = labvault_make_user(shared_app, role="admin")
    user = labvault_make_user(shared_app)
    client = shared_app.test_client()
    seen_by_first = etag_of(client, first, user.id)
    seen_by_second = etag_of(client, second, user.id)

    assert patch(client, second, user.id, {"role": "manager"}, seen_by_second).status_code == 200
    assert_error(patch(client, first, user.id, {"role": "admin"}, seen_by_first), 412)
    assert stored_user(shared_app, user.id)["role"] == "manager"


def test_changing_an_unknown_user_is_404(shared_app, labvault_make_user):
    admin = labvault_make_user(shared_app, role="admin")
    response = patch(shared_app.test_client(), admin, 999999, {"role": "user"}, '"x"')
    assert_error(response, 404, "no user with id 999999")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"role": "superuser"}, "role"),
        ({"role": "ADMIN"}, "role"),
        ({"status": "banned"}, "status"),
        ({"role": None}, "role"),
        ({"email": "new@example.org"}, "email"),
        ({"role": "manager", "display_name": "x"}, "display_name"),
        (["role", "admin"], "_schema"),
    ],
)
def test_invalid_changes_are_422(shared_app, labvault_make_user, changes, field):
    admin = labvault_make_user(shared_app, role="admin")
    user = labvault_make_user(shared_app)
    client = shared_app.test_client()
    response = patch(client, admin, user.id, changes, etag_of(client, admin, user.id))
    assert_error(response, 422)
    assert field in response.json["errors"]["json"], changes
    row = stored_user(shared_app, user.id)
    assert (row["role"], row["status"], row["email"]) == ("user", "active", user.email)


def test_admins_cannot_demote_or_deactivate_themselves(shared_app, labvault_make_user, subtests):
    admin = labvault_make_user(shared_app, role="admin")
    client = shared_app.test_client()
    for changes in ({"role": "manager"}, {"status": "deactivated"}, {"status": "unverified"}):
        with subtests.test(changes=changes):
            response = patch(client, admin, admin.id, changes, etag_of(client, admin, admin.id))
            assert_error(response, 409, "cannot demote or deactivate themselves")
    row = stored_user(shared_app, admin.id)
    assert (row["role"], row["status"]) == ("admin", "active")

    # keeping one's own role is fine, and another admin may demote this one
    keep = patch(client, admin, admin.id, {"role": "admin"}, etag_of(client, admin, admin.id))
    assert keep.status_code == 200
    other = labvault_make_user(shared_app, role="admin")
    demoted = patch(client, other, admin.id, {"role": "user"}, etag_of(client, other, admin.id))
    assert demoted.status_code == 200
    assert stored_user(shared_app, admin.id)["role"] == "user"
    assert client.get("/users", headers=admin.headers).status_code == 403


def test_a_new_role_applies_to_existing_tokens_at_once(shared_app, labvault_make_user):
    admin = labvault_make_user(shared_app, role="admin")
    user = labvault_make_user(shared_app)
    client = shared_app.test_client()
    assert client.get("/users", headers=user.headers).status_code == 403
    etag = etag_of(client, admin, user.id)
    assert patch(client, admin, user.id, {"role": "admin"}, etag).status_code == 200
    assert client.get("/users", headers=user.headers).status_code == 200


def test_deactivating_a_user_stops_all_their_credentials_at_once(
    shared_app, labvault_make_user, caplog
):
    admin = labvault_make_user(shared_app, role="admin")
    user = labvault_make_user(shared_app)
    bystander = labvault_make_user(shared_app)
    client = shared_app.test_client()
    state = shared_app.extensions["labvault"]
    with shared_app.app_context():
        session = get_session()
        account = session.get(User, user.id)
        assert account is not None
        signed_in = start_session(session, state.signer, account, dt.timedelta(hours=1))
    refresh_token = signed_in.refresh_token
    access_headers = {"Authorization": f"Bearer {signed_in.access_token}"}
    api_key = client.post("/users/me/api-keys", json={"name": "cron"}, headers=user.headers)
    key_headers = {"Authorization": f"Bearer {api_key.json['key']}"}
    assert client.get("/users/me", headers=user.headers).status_code == 200
    assert client.get("/users/me", headers=key_headers).status_code == 200
    rotated = client.post("/auth/refresh", json={"refresh_token": refresh_token})
    assert rotated.status_code == 200
    refresh_token = rotated.json["refresh_token"]
    rotated_headers = {"Authorization": f"Bearer {rotated.json['access_token']}"}
    assert client.get("/users/me", headers=rotated_headers).status_code == 200

    etag = etag_of(client, admin, user.id)
    response = patch(client, admin, user.id, {"status": "deactivated"}, etag)
    assert response.status_code == 200
    assert response.json["status"] == "deactivated"

    with caplog.at_level(logging.INFO, logger="labvault"):
        assert_error(client.get("/users/me", headers=user.headers), 401, INVALID_TOKEN_MESSAGE)
        assert_error(client.get("/users/me", headers=key_headers), 401, INVALID_TOKEN_MESSAGE)
    refusals = [r.getMessage() for r in caplog.records if "token refused" in r.getMessage()]
    reasons = [refusal.split(": ", 1)[1] for refusal in refusals]
    assert reasons == ["the session has been revoked", "unknown or revoked API key"]
    refreshed = client.post("/auth/refresh", json={"refresh_token": refresh_token})
    assert_error(refreshed, 401, INVALID_TOKEN_MESSAGE)  # the log says: revoked
    # only that user is affected
    assert client.get("/users/me", headers=bystander.headers).status_code == 200

    # reactivating the account does not bring the old API key or sessions back, nor the
    # access tokens of those sessions
    etag = etag_of(client, admin, user.id)
    assert patch(client, admin, user.id, {"status": "active"}, etag).status_code == 200
    for headers in (user.headers, access_headers, rotated_headers, key_headers):
        assert_error(client.get("/users/me", headers=headers), 401, INVALID_TOKEN_MESSAGE)
    refreshed = client.post("/auth/refresh", json={"refresh_token": refresh_token})
    assert_error(refreshed, 401, INVALID_TOKEN_MESSAGE)  # the log says: revoked


@pytest.mark.parametrize("labvault_database_url", ["mariadb", "postgresql"], indirect=True)
def test_two_first_sign_ins_of_one_email_reach_one_account(shared_app):
    """Another sign-in registers the email between this one's lookup and insert (on
    SQLite the write lock taken first keeps them apart): the account it made is used."""
    from labvault.plugin import AuthProvider, Identity
    from labvault.signin.service import sign_in

    state = shared_app.extensions["labvault"]
    other = state.database.sessionmaker()
    session = state.database.sessionmaker()
    raced = []

    @sa.event.listens_for(session, "before_flush")
    def register_first(*_: Any) -> None:
        if not raced:
            raced.append(True)
            begin_write(other)
            other.add(User(email="ada@lab.example", display_name="Ada"))
            other.commit()

    identity = Identity("campus", "s-1", "ada@lab.example", email_verified=True)
    try:
        tokens = sign_in(session, state.signer, AuthProvider("campus", {}, None), identity)
    finally:
        session.close()
        other.close()

    me = shared_app.test_client().get(
        "/users/me", headers={"Authorization": f"Bearer {tokens.access_token}"}
    )
    assert raced and me.status_code == 200
    assert (me.json["email"], me.json["display_name"]) == ("ada@lab.example", "Ada")
    with shared_app.app_context():
        assert get_session().scalar(sa.select(sa.func.count()).select_from(User)) == 1
