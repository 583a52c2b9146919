"""Personal API keys: /users/me/api-keys. Shown once, stored hashed, named, optionally
expiring, revocable, and sent like any bearer token."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest
import sqlalchemy as sa
from labvault.auth.models import ApiKey
from labvault.db import begin_write, utcnow
from labvault.web.access import INVALID_TOKEN_MESSAGE
from labvault.web.session import get_session

KEYS = "/users/me/api-keys"
LISTED_FIELDS = {"id", "name", "hint", "created_at", "expires_at", "last_used_at"}


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def create_key(client: Any, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post(KEYS, json={"name": "script", **body}, headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    created: dict[str, Any] = response.json
    return created


def stored_keys(app: Any) -> list[dict[str, Any]]:
    """Every column of every API-key row, oldest first."""
    with app.app_context():
        table = ApiKey.__table__
        rows = get_session().execute(sa.select(table).order_by(table.c.id)).mappings()
        return [dict(row) for row in rows]


def set_expiry(app: Any, key_id: int, expires_at: dt.datetime) -> None:
    with app.app_context():
        session = get_session()
        begin_write(session)
        session.execute(sa.update(ApiKey).where(ApiKey.id == key_id).values(expires_at=expires_at))
        session.commit()


def assert_unauthorized(response: Any, message: str) -> None:
    assert response.status_code == 401
    assert response.json["code"] == 401
    assert response.json["status"] == "Unauthorized"
    assert message in response.json["message"]
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="labvault"')


def assert_key_refused(response: Any, caplog: pytest.LogCaptureFixture, reason: str) -> None:
    """The answer to every refused token; the log says why (caplog at INFO)."""
    assert_unauthorized(response, INVALID_TOKEN_MESSAGE)
    assert response.json["message"] == INVALID_TOKEN_MESSAGE
    refusals = [r.getMessage() for r in caplog.records if "token refused" in r.getMessage()]
    assert refusals and reason in refusals[-1], refusals


def test_a_new_key_is_shown_once_and_works_as_a_bearer_token(shared_app, labvault_make_user):
    user = labvault_make_user(shared_app)
    client = shared_app.test_client()

    created = create_key(client, user.headers, name="XRD instrument PC")
    secret = created["key"]
    assert secret.startswith("lvk_")
    assert len(secret) >= 40
    assert set(created) == LISTED_FIELDS | {"key"}
    assert created["name"] == "XRD instrument PC"
    assert secret.startswith(created["hint"]) and len(created["hint"]) <= 16
    assert created["expires_at"] is None
    assert created["last_used_at"] is None

    me = client.get("/users/me", headers=bearer(secret))
    assert me.status_code == 200
    assert me.json["id"] == user.id

    listing = client.get(KEYS, headers=user.headers)
    assert listing.status_code == 200
    assert [key["id"] for key in listing.json] == [created["id"]]
    assert set(listing.json[0]) == LISTED_FIELDS
    assert secret not in listing.get_data(as_text=True)


def test_keys_are_stored_only_as_hashes(shared_app, labvault_make_user):
    user = labvault_make_user(shared_app)
    created = create_key(shared_app.test_client(), user.headers)
    secret_part = created["key"].removeprefix(created["hint"])

    [row] = stored_keys(shared_app)
    assert row["user_id"] == user.id
    assert row["name"] == "script"
    for column, value in row.items():
        assert secret_part not in str(value), f"{column} holds the key"
    assert len(row["key_hash"]) == 64  # a SHA-256 hex digest


def test_listing_shows_when_a_key_was_last_used(shared_app, labvault_make_user):
    user = labvault_make_user(shared_app)
    client = shared_app.test_client()
    unused = create_key(client, user.headers, name="spare")
    used = create_key(client, user.headers, name="daily")
    before = utcnow()
    assert client.get("/users/me", headers=bearer(used["key"])).status_code == 200

    listing = {key["name"]: key for key in client.get(KEYS, headers=user.headers).json}
    assert listing["spare"]["last_used_at"] is None
    last_used = dt.datetime.fromisoformat(listing["daily"]["last_used_at"])
    assert before <= last_used <= utcnow()
    assert unused["id"] != used["id"]


def test_a_key_carries_its_owner_role(shared_app, labvault_make_user):
    admin = labvault_make_user(shared_app, role="admin")
    user = labvault_make_user(shared_app)
    client = shared_app.test_client()
    admin_key = create_key(client, admin.headers)["key"]
    user_key = create_key(client, user.headers)["key"]
    assert client.get("/users", headers=bearer(admin_key)).status_code == 200
    assert client.get("/users", headers=bearer(user_key)).status_code == 403


def test_a_key_stops_working_when_it_expires(shared_app, labvault_make_user, caplog):
    caplog.set_level(logging.INFO, logger="labvault")
    user = labvault_make_user(shared_app)
    client = shared_app.test_client()
    in_an_hour = dt.datetime.now(dt.timezone(dt.timedelta(hours=2))) + dt.timedelta(hours=1)
    created = create_key(client, user.headers, expires_at=in_an_hour.isoformat())
    # shown as stored: in UTC, to the second, whatever the client wrote
    expected = in_an_hour.astimezone(dt.UTC).replace(microsecond=0)
    assert created["expires_at"] == expected.isoformat()
    [listed] = client.get(KEYS, headers=user.headers).json
    assert listed["expires_at"] == created["expires_at"]
    assert client.get("/users/me", headers=bearer(created["key"])).status_code == 200

    set_expiry(shared_app, created["id"], utcnow() - dt.timedelta(seconds=1))
    response = client.get("/users/me", headers=bearer(created["key"]))
    assert_key_refused(response, caplog, "API key has expired")


BAD_CREATE_BODIES = {
    "expiry-in-the-past": ({"name": "x", "expires_at": "2020-01-01T00:00:00+00:00"}, "expires_at"),
    "expiry-without-time-zone": ({"name": "x", "expires_at": "2099-01-01T00:00:00"}, "expires_at"),
    "expiry-not-a-date": ({"name": "x", "expires_at": "next week"}, "expires_at"),
    "missing-name": ({}, "name"),
    "empty-name": ({"name": ""}, "name"),
    "name-too-long": ({"name": "x" * 101}, "name"),
    "name-not-a-string": ({"name": ["x"]}, "name"),
    "unknown-field": ({"name": "x", "scopes": ["read"]}, "scopes"),
}


@pytest.mark.parametrize(
    ("body", "field"), list(BAD_CREATE_BODIES.values()), ids=list(BAD_CREATE_BODIES)
)
def test_invalid_key_requests_are_422_and_create_nothing(
    shared_app, labvault_make_user, body, field
):
    user = labvault_make_user(shared_app)
    response = shared_app.test_client().post(KEYS, json=body, headers=user.headers)
    assert response.status_code == 422
    assert response.json["code"] == 422
    assert field in response.json["errors"]["json"]
    assert stored_keys(shared_app) == []


def test_malformed_json_is_a_json_400(shared_app, labvault_make_user):
    user = labvault_make_user(shared_app)
    response = shared_app.test_client().post(
        KEYS, data='{"name": ', content_type="application/json", headers=user.headers
    )
    assert response.status_code == 400
    assert response.json["code"] == 400
    assert stored_keys(shared_app) == []


def test_a_revoked_key_stops_working_at_once(shared_app, labvault_make_user, caplog):
    caplog.set_level(logging.INFO, logger="labvault")
    user = labvault_make_user(shared_app)
    client = shared_app.test_client()
    revoked = create_key(client, user.headers, name="old laptop")
    kept = create_key(client, user.headers, name="new laptop")

    response = client.delete(f"{KEYS}/{revoked['id']}", headers=user.headers)
    assert response.status_code == 204
    response = client.get("/users/me", headers=bearer(revoked["key"]))
    assert_key_refused(response, caplog, "unknown or revoked API key")
    assert client.get("/users/me", headers=bearer(kept["key"])).status_code == 200
    assert [key["name"] for key in client.get(KEYS, headers=user.headers).json] == ["new laptop"]
    # the row stays, marked revoked, as a record of the key
    rows = {row["id"]: row for row in stored_keys(shared_app)}
    assert rows[revoked["id"]]["revoked_at"] is not None
    assert rows[kept["id"]]["revoked_at"] is None

    again = client.delete(f"{KEYS}/{revoked['id']}", headers=user.headers)
    assert again.status_code == 404
    assert again.json["code"] == 404


def test_a_key_can_revoke_itself(shared_app, labvault_make_user, caplog):
    caplog.set_level(logging.INFO, logger="labvault")
    user = labvault_make_user(shared_app)
    client = shared_app.test_client()
    created = create_key(client, user.headers)
    own = bearer(created["key"])
    assert client.delete(f"{KEYS}/{created['id']}", headers=own).status_code == 204
    assert_key_refused(client.get(KEYS, headers=own), caplog, "unknown or revoked API key")


def test_users_cannot_see_or_revoke_each_others_keys(shared_app, labvault_make_user):
    alice = labvault_make_user(shared_app)
    bob = labvault_make_user(shared_app, role="admin")  # not even an admin can
    client = shared_app.test_client()
    alice_key = create_key(client, alice.headers, name="alice's")

    assert client.get(KEYS, headers=bob.headers).json == []
    response = client.delete(f"{KEYS}/{alice_key['id']}", headers=bob.headers)
    assert response.status_code == 404
    assert response.json["code"] == 404
    assert client.get("/users/me", headers=bearer(alice_key["key"])).json["id"] == alice.id
    assert client.delete(f"{KEYS}/999999", headers=alice.headers).status_code == 404


def test_an_api_key_cannot_create_another_key(shared_app, labvault_make_user):
    """A leaked key must not mint keys that outlive it: new keys need an access token."""
    user = labvault_make_user(shared_app)
    client = shared_app.test_client()
    created = create_key(client, user.headers, name="cron", expires_at="2099-01-01T00:00:00Z")
    own = bearer(created["key"])

    refused = client.post(KEYS, json={"name": "forever"}, headers=own)

    assert refused.status_code == 403, refused.get_data(as_text=True)
    assert refused.json == {
        "code": 403,
        "status": "Forbidden",
        "message": "API keys are created with an access token from signing in, not with "
        "another API key",
    }
    assert [row["name"] for row in stored_keys(shared_app)] == ["cron"]
    # the key still lists and revokes keys, as the access token does
    assert [key["name"] for key in client.get(KEYS, headers=own).json] == ["cron"]
    assert create_key(client, user.headers, name="second")["name"] == "second"
    documented = client.get("/openapi.json").json["paths"][KEYS]["post"]
    assert "not with another API key (403)" in " ".join(documented["description"].split())
    assert "403" in documented["responses"]


@pytest.mark.parametrize(
    ("method", "path"), [("GET", KEYS), ("POST", KEYS), ("DELETE", f"{KEYS}/1")]
)
def test_api_key_routes_need_a_signed_in_user(shared_client, method, path):
    body = {"name": "x"} if method == "POST" else None
    assert_unauthorized(
        shared_client.open(path, method=method, json=body), "authentication required"
    )


def test_an_unknown_key_is_refused(shared_client, caplog):
    caplog.set_level(logging.INFO, logger="labvault")
    response = shared_client.get("/users/me", headers=bearer("lvk_" + "A" * 43))
    assert_key_refused(response, caplog, "unknown or revoked API key")
