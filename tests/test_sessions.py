"""Sessions: refresh tokens are stored hashed, rotate on use, and a reused one ends the
session; sessions end after SESSION_LIFETIME and at logout. A refused refresh token gets
the one answer of every refused token; only the log says why."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from labvault.auth.models import RefreshToken, RevokedSession, User
from labvault.auth.service import SessionTokens, start_session
from labvault.db import begin_write, utcnow
from labvault.users.service import create_user
from labvault.web.session import get_session


def account(app: Any) -> User:
    """A user who has not signed in yet (a user of labvault_make_user has a session)."""
    with app.app_context():
        return create_user(get_session(), f"{uuid.uuid4().hex[:12]}@example.org")


def sign_in(app: Any, user_id: int) -> SessionTokens:
    """What a login provider does once it knows who someone is."""
    state = app.extensions["labvault"]
    with app.app_context():
        session = get_session()
        user = session.get(User, user_id)
        assert user is not None
        return start_session(session, state.signer, user)  # lasts SESSION_LIFETIME


def stored_tokens(app: Any) -> list[dict[str, Any]]:
    """Every column of every refresh-token row, oldest first."""
    with app.app_context():
        table = RefreshToken.__table__
        rows = get_session().execute(sa.select(table).order_by(table.c.id)).mappings()
        return [dict(row) for row in rows]


def refresh(client: Any, token: str) -> Any:
    return client.post("/auth/refresh", json={"refresh_token": token})


def me(client: Any, access_token: str) -> Any:
    return client.get("/users/me", headers={"Authorization": f"Bearer {access_token}"})


def assert_error(response: Any, code: int, message: str | None = None) -> None:
    assert response.status_code == code, response.get_data(as_text=True)
    body = response.json
    assert body["code"] == code
    assert isinstance(body["status"], str) and body["status"]
    assert isinstance(body["message"], str) and body["message"]
    if message is not None:
        assert message in body["message"]


def assert_refused(response: Any, caplog: Any, reason: str) -> None:
    """The one 401 of a refused token; the reason only in the log, without the token."""
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.json == {
        "code": 401,
        "status": "Unauthorized",
        "message": "invalid or expired token",
    }
    logged = [r.getMessage() for r in caplog.records if "refresh token refused" in r.getMessage()]
    assert logged and reason in logged[-1], logged
    caplog.clear()


def test_signing_in_gives_working_tokens_and_stores_only_a_hash(shared_app):
    user = account(shared_app)
    tokens = sign_in(shared_app, user.id)
    assert tokens.token_type == "Bearer"
    assert tokens.refresh_token.startswith("lvr_")
    assert me(shared_app.test_client(), tokens.access_token).json["id"] == user.id

    [row] = stored_tokens(shared_app)
    assert row["user_id"] == user.id
    secret_part = tokens.refresh_token.removeprefix("lvr_")
    for column, value in row.items():
        assert secret_part not in str(value), f"{column} holds the refresh token"
    assert len(row["token_hash"]) == 64  # a SHA-256 hex digest


def test_refresh_rotates_both_tokens(labvault_make_app):
    app = labvault_make_app(ACCESS_TOKEN_LIFETIME=10)
    user = account(app)
    client = app.test_client()
    first = sign_in(app, user.id)

    response = refresh(client, first.refresh_token)
    assert response.status_code == 200
    body = response.json
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    assert body["refresh_token"].startswith("lvr_")
    assert body["refresh_token"] != first.refresh_token
    assert body["access_token"] != first.access_token
    assert me(client, body["access_token"]).json["id"] == user.id

    # the new refresh token works in turn, and so on
    second = refresh(client, body["refresh_token"])
    assert second.status_code == 200
    assert refresh(client, second.json["refresh_token"]).status_code == 200

    rows = stored_tokens(app)
    assert len(rows) == 4
    assert len({row["family_id"] for row in rows}) == 1
    assert [row["used_at"] is not None for row in rows] == [True, True, True, False]


def test_reusing_a_rotated_refresh_token_ends_the_whole_session(shared_app, caplog):
    caplog.set_level(logging.INFO, logger=shared_app.logger.name)
    user = account(shared_app)
    client = shared_app.test_client()
    oldest = sign_in(shared_app, user.id).refresh_token
    middle = refresh(client, oldest).json["refresh_token"]
    newest = refresh(client, middle).json["refresh_token"]
    other_device = sign_in(shared_app, user.id).refresh_token

    # a thief replays the stolen, already used token
    assert_refused(refresh(client, oldest), caplog, "already used")
    # the legitimate holder's newest token is revoked with the rest of the family
    assert_refused(refresh(client, newest), caplog, "revoked")
    assert_refused(refresh(client, middle), caplog, "revoked")

    family = {row["family_id"] for row in stored_tokens(shared_app)[:3]}
    assert len(family) == 1
    for row in stored_tokens(shared_app):
        if row["family_id"] in family:
            assert row["revoked_at"] is not None
    # another sign-in of the same user is a separate session and keeps working
    assert refresh(client, other_device).status_code == 200


def test_session_ends_after_session_lifetime(labvault_make_app, caplog):
    app = labvault_make_app(SESSION_LIFETIME=2)
    caplog.set_level(logging.INFO, logger=app.logger.name)
    user = account(app)
    client = app.test_client()
    before = utcnow()
    tokens = sign_in(app, user.id)
    [row] = stored_tokens(app)
    expected_end = before + dt.timedelta(hours=2)
    assert expected_end <= row["expires_at"] <= expected_end + dt.timedelta(seconds=5)

    rotated = refresh(client, tokens.refresh_token).json["refresh_token"]
    # rotating does not extend the session: every token of it ends at sign-in + lifetime
    assert {r["expires_at"] for r in stored_tokens(app)} == {row["expires_at"]}

    with app.app_context():
        session = get_session()
        begin_write(session)
        session.execute(
            sa.update(RefreshToken)
            .where(RefreshToken.family_id == row["family_id"])
            .values(expires_at=utcnow() - dt.timedelta(seconds=1))
        )
        session.commit()
    assert_refused(refresh(client, rotated), caplog, "expired")


def test_logout_revokes_the_session(shared_app, caplog):
    caplog.set_level(logging.INFO, logger=shared_app.logger.name)
    user = account(shared_app)
    client = shared_app.test_client()
    current = refresh(client, sign_in(shared_app, user.id).refresh_token).json["refresh_token"]
    other_device = sign_in(shared_app, user.id).refresh_token

    response = client.post("/auth/logout", json={"refresh_token": current})
    assert response.status_code == 204
    assert response.get_data() == b""
    assert_refused(refresh(client, current), caplog, "revoked")

    rows = stored_tokens(shared_app)
    assert [row["revoked_at"] is not None for row in rows] == [True, True, False]
    assert refresh(client, other_device).status_code == 200


def assert_access_refused(response: Any, caplog: Any) -> None:
    """The one 401 of a refused bearer token; the log says the session was revoked."""
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.json["message"] == "invalid or expired token"
    logged = [r.getMessage() for r in caplog.records if "bearer token refused" in r.getMessage()]
    assert logged and "the session has been revoked" in logged[-1], logged
    caplog.clear()


@pytest.mark.parametrize("revoked_by", ["signing-out", "a-replayed-refresh-token"])
def test_revoking_a_session_ends_its_access_tokens_at_once(
    shared_app, labvault_make_user, caplog, revoked_by
):
    caplog.set_level(logging.INFO, logger=shared_app.logger.name)
    user = labvault_make_user(shared_app)
    client = shared_app.test_client()
    first = sign_in(shared_app, user.id)
    rotated = refresh(client, first.refresh_token).json
    other_device = sign_in(shared_app, user.id)
    for access_token in (first.access_token, rotated["access_token"]):
        assert me(client, access_token).status_code == 200

    if revoked_by == "signing-out":
        logout = client.post("/auth/logout", json={"refresh_token": rotated["refresh_token"]})
        assert logout.status_code == 204
    else:  # a thief replays the used refresh token: the whole session is revoked
        assert refresh(client, first.refresh_token).status_code == 401

    assert_access_refused(me(client, first.access_token), caplog)
    assert_access_refused(me(client, rotated["access_token"]), caplog)
    # the user's other sessions go on
    assert me(client, other_device.access_token).json["id"] == user.id
    assert me(client, user.token).json["id"] == user.id


def revoked_sessions(app: Any) -> list[dict[str, Any]]:
    with app.app_context():
        table = RevokedSession.__table__
        rows = get_session().execute(sa.select(table).order_by(table.c.expires_at)).mappings()
        return [dict(row) for row in rows]


def test_a_revoked_session_is_remembered_only_while_its_access_tokens_live(labvault_make_app):
    app = labvault_make_app(ACCESS_TOKEN_LIFETIME=2)
    user = account(app)
    client = app.test_client()
    first, second = sign_in(app, user.id), sign_in(app, user.id)
    first_family, second_family = (row["family_id"] for row in stored_tokens(app))

    before = utcnow()
    client.post("/auth/logout", json={"refresh_token": first.refresh_token})
    [remembered] = revoked_sessions(app)
    assert remembered["session_id"] == first_family
    # as long as an access token of it may live: its lifetime and the clock leeway
    lives = dt.timedelta(minutes=2, seconds=5)
    assert before + lives <= remembered["expires_at"] <= utcnow() + lives

    with app.app_context():
        session = get_session()
        begin_write(session)
        session.execute(
            sa.update(RevokedSession).values(expires_at=utcnow() - dt.timedelta(seconds=1))
        )
        session.commit()
    client.post("/auth/logout", json={"refresh_token": second.refresh_token})
    assert [row["session_id"] for row in revoked_sessions(app)] == [second_family]


def test_logout_with_an_unknown_token_changes_nothing(shared_app, labvault_make_user):
    """Logging out twice, or with a token the server never issued, is not an error."""
    user = labvault_make_user(shared_app)
    client = shared_app.test_client()
    tokens = sign_in(shared_app, user.id)
    response = client.post("/auth/logout", json={"refresh_token": "lvr_never-issued"})
    assert response.status_code == 204
    assert refresh(client, tokens.refresh_token).status_code == 200


@pytest.mark.parametrize(
    "token", ["lvr_never-issued", "not-even-a-refresh-token", "eyJhbGciOiJIUzI1NiJ9.e30.c2ln"]
)
def test_unknown_refresh_token_is_refused(shared_app, shared_client, token, caplog):
    caplog.set_level(logging.INFO, logger=shared_app.logger.name)
    assert_refused(refresh(shared_client, token), caplog, "unknown refresh token")


BAD_BODIES = {
    "missing-field": ({"json": {}}, 422, "refresh_token"),
    "unknown-field": (
        {"json": {"refresh_token": "lvr_x", "remember_me": True}},
        422,
        "remember_me",
    ),
    "not-a-string": ({"json": {"refresh_token": 12345}}, 422, "refresh_token"),
    "empty-string": ({"json": {"refresh_token": ""}}, 422, "refresh_token"),
    "too-long": ({"json": {"refresh_token": "lvr_" + "x" * 300}}, 422, "refresh_token"),
    "null": ({"json": {"refresh_token": None}}, 422, "refresh_token"),
    "json-array": ({"json": ["lvr_x"]}, 422, None),
    "malformed-json": (
        {"data": '{"refresh_token": ', "content_type": "application/json"},
        400,
        None,
    ),
    "not-utf8": ({"data": b"\xff\xfe\x00", "content_type": "application/json"}, 400, None),
    "no-body": ({}, 422, "refresh_token"),
}


@pytest.mark.parametrize("route", ["/auth/refresh", "/auth/logout"])
@pytest.mark.parametrize(
    ("request_args", "code", "field"), list(BAD_BODIES.values()), ids=list(BAD_BODIES)
)
def test_bad_request_bodies_get_a_json_error(shared_client, route, request_args, code, field):
    response = shared_client.post(route, **request_args)
    assert_error(response, code)
    assert response.mimetype == "application/json"
    if field is not None:
        assert field in response.json["errors"]["json"]
