"""Every refused bearer token gets one and the same answer; only the log says why.

A caller who probes tokens learns nothing from the answer: not whether a signature
was right, a token expired, a key was revoked or its user exists. The reason is in the
log, at INFO, without the token. (tests/test_tokens.py runs its attack matrix against
the same answer; here the kinds of refusal are compared with each other.)
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from typing import Any

import jwt
import pytest
import sqlalchemy as sa
from labvault.auth import service
from labvault.auth.models import ApiKey, RefreshToken, User
from labvault.db import begin_write, utcnow
from labvault.testing import TEST_SECRET_KEY
from labvault.web.session import get_session

from tests.test_tokens import claims

ANSWER = {"code": 401, "status": "Unauthorized", "message": "invalid or expired token"}
CHALLENGE = (
    'Bearer realm="labvault", error="invalid_token", error_description="invalid or expired token"'
)


@pytest.fixture
def labvault_database_url(tmp_path):
    return f"sqlite:///{tmp_path / 'labvault.db'}"


class Lab:
    """An app and ways to make users and keys in the state each refusal needs."""

    def __init__(self, app: Any, make_user: Any) -> None:
        self.app, self.make_user = app, make_user

    def user_id(self) -> int:
        user_id: int = self.make_user(self.app).id
        return user_id

    def change_user(self, user_id: int, statement: Any) -> None:
        with self.app.app_context():
            session = get_session()
            begin_write(session)
            session.execute(statement.where(User.id == user_id))
            session.commit()

    def api_key(self, user_id: int) -> tuple[int, str]:
        with self.app.app_context():
            session = get_session()
            user = session.get(User, user_id)
            key, secret = service.create_api_key(session, user, "script", None)
            return key.id, secret

    def change_key(self, key_id: int, **values: Any) -> None:
        with self.app.app_context():
            session = get_session()
            begin_write(session)
            session.execute(sa.update(ApiKey).where(ApiKey.id == key_id).values(**values))
            session.commit()

    def token(self, user_id: int) -> str:
        with self.app.app_context():
            token: str = self.app.extensions["labvault"].signer.issue(user_id, uuid.uuid4().hex)
            return token


def _jwt(lab: Lab, **changes: Any) -> str:
    return jwt.encode(claims(lab.user_id(), **changes), TEST_SECRET_KEY)


def _deleted_users_token(lab: Lab) -> str:
    user_id = lab.user_id()
    token = lab.token(user_id)
    lab.change_user(user_id, sa.delete(User))
    return token


def _deactivated_users(credential: str) -> Any:
    def build(lab: Lab) -> str:
        user_id = lab.user_id()
        secret = lab.token(user_id) if credential == "jwt" else lab.api_key(user_id)[1]
        # straight in the database: deactivating through the API also revokes the keys
        lab.change_user(user_id, sa.update(User).values(status="deactivated"))
        return secret

    return build


def _revoked_key(lab: Lab) -> str:
    key_id, secret = lab.api_key(lab.user_id())
    lab.change_key(key_id, revoked_at=utcnow())
    return secret


def _expired_key(lab: Lab) -> str:
    key_id, secret = lab.api_key(lab.user_id())
    lab.change_key(key_id, expires_at=utcnow() - dt.timedelta(seconds=1))
    return secret


#: Each kind of refused token: how to make one, and the reason the log gives.
REFUSALS = {
    "expired JWT": (
        lambda lab: _jwt(lab, exp=int(utcnow().timestamp()) - 60),
        "token has expired",
    ),
    "JWT with a bad signature": (
        lambda lab: jwt.encode(claims(lab.user_id()), "another-server-secret-key-0123456789"),
        "token signature is invalid",
    ),
    "malformed JWT": (lambda lab: "not.a.jwt", "token is malformed"),
    "JWT for another audience": (
        lambda lab: _jwt(lab, aud="another-api"),
        "token was not issued for this API",
    ),
    "JWT of another issuer": (
        lambda lab: _jwt(lab, iss="https://elsewhere.example.org"),
        "token was not issued by this server",
    ),
    "JWT of a deleted user": (_deleted_users_token, "the token's user does not exist"),
    "JWT of a deactivated user": (_deactivated_users("jwt"), "the account is deactivated"),
    "revoked API key": (_revoked_key, "unknown or revoked API key"),
    "expired API key": (_expired_key, "API key has expired"),
    "unknown API key": (lambda lab: "lvk_" + "A" * 43, "unknown or revoked API key"),
    "API key of a deactivated user": (_deactivated_users("key"), "the account is deactivated"),
}


def answer(response: Any) -> tuple[Any, ...]:
    """What a client sees of a refusal."""
    return (
        response.status_code,
        response.mimetype,
        json.dumps(response.json, sort_keys=True),
        response.headers.get("WWW-Authenticate"),
    )


def test_every_refused_token_gets_the_same_answer_and_the_log_says_why(
    labvault_make_app, labvault_make_user, caplog
):
    lab = Lab(labvault_make_app(), labvault_make_user)
    client = lab.app.test_client()
    working = lab.token(lab.user_id())
    assert (
        client.get("/users/me", headers={"Authorization": f"Bearer {working}"}).status_code == 200
    )

    answers: dict[tuple[Any, ...], list[str]] = {}
    secrets, log = [], ""
    for name, (build, reason) in REFUSALS.items():
        secret = build(lab)
        secrets.append(secret)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="labvault"):
            for path in ("/users/me", "/items"):
                response = client.get(path, headers={"Authorization": f"Bearer {secret}"})
                answers.setdefault(answer(response), []).append(f"{name} at {path}")
        logged = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
        assert logged == [f"bearer token refused (127.0.0.1): {reason}"] * 2, name
        log += caplog.text

    expected = (401, "application/json", json.dumps(ANSWER, sort_keys=True), CHALLENGE)
    assert list(answers) == [expected], answers
    assert not [secret for secret in secrets if secret in log]


def _session(lab: Lab, user_id: int | None = None) -> str:
    with lab.app.app_context():
        session = get_session()
        user = session.get(User, user_id or lab.user_id())
        tokens = service.start_session(session, lab.app.extensions["labvault"].signer, user)
        return tokens.refresh_token


def _used_refresh(lab: Lab) -> str:
    secret = _session(lab)
    rotated = lab.app.test_client().post("/auth/refresh", json={"refresh_token": secret})
    assert rotated.status_code == 200, rotated.json
    return secret


def _logged_out_refresh(lab: Lab) -> str:
    secret = _session(lab)
    ended = lab.app.test_client().post("/auth/logout", json={"refresh_token": secret})
    assert ended.status_code == 204
    return secret


def _expired_refresh(lab: Lab) -> str:
    secret = _session(lab)
    with lab.app.app_context():
        session = get_session()
        begin_write(session)
        session.execute(
            sa.update(RefreshToken).values(expires_at=utcnow() - dt.timedelta(seconds=1))
        )
        session.commit()
    return secret


def _deactivated_users_refresh(lab: Lab) -> str:
    user_id = lab.user_id()
    secret = _session(lab, user_id)
    lab.change_user(user_id, sa.update(User).values(status="deactivated"))
    return secret


#: Each kind of refused refresh token, and the reason the log gives.
REFRESH_REFUSALS = {
    "unknown": (lambda lab: "lvr_" + "A" * 43, "unknown refresh token"),
    "already used": (_used_refresh, "already used"),
    "logged out": (_logged_out_refresh, "has been revoked"),
    "expired": (_expired_refresh, "the session has expired"),
    "of a deactivated user": (_deactivated_users_refresh, "the account is deactivated"),
}


def test_a_refused_refresh_token_gets_the_answer_of_every_refused_token(
    labvault_make_app, labvault_make_user, caplog
):
    lab = Lab(labvault_make_app(), labvault_make_user)
    client = lab.app.test_client()
    answers: dict[tuple[Any, ...], list[str]] = {}
    for name, (build, reason) in REFRESH_REFUSALS.items():
        secret = build(lab)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="labvault"):
            response = client.post("/auth/refresh", json={"refresh_token": secret})
        answers.setdefault(answer(response), []).append(name)
        logged = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
        assert len(logged) == 1 and logged[0].startswith("refresh token refused"), logged
        assert reason in logged[0] and secret not in caplog.text, (name, logged)

    expected = (401, "application/json", json.dumps(ANSWER, sort_keys=True), CHALLENGE)
    assert list(answers) == [expected], answers
