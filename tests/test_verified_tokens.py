"""Verified access tokens are remembered per process (auth/tokens.py), and nothing a
client could notice changes: a revoked session or a deactivated user is refused at once,
an expired token as soon as it expires, and the memory is bounded.

Whether a token was verified again is seen through PyJWT's ``decode``, counted."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from typing import Any

import jwt
import pytest
import sqlalchemy as sa
from labvault.auth import tokens
from labvault.auth.models import User
from labvault.auth.tokens import TokenSigner
from labvault.db import begin_write
from labvault.web.session import get_session

from tests.test_sessions import assert_access_refused, me, sign_in


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens PyJWT decodes from now on (each time it does)."""
    seen: list[str] = []
    decode = jwt.decode

    def counting_decode(token: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(token)
        return decode(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting_decode)
    return seen


def refused_reason(caplog: pytest.LogCaptureFixture) -> str:
    logged = [r.getMessage() for r in caplog.records if "bearer token refused" in r.getMessage()]
    assert logged, "no refusal logged"
    return logged[-1]


def test_a_token_is_verified_once_while_it_is_valid(shared_app, labvault_make_user, decoded):
    user = labvault_make_user(shared_app)
    client = shared_app.test_client()
    for _ in range(3):
        assert me(client, user.token).json["id"] == user.id
    assert decoded == [user.token]


def test_a_revoked_session_is_refused_at_once_though_its_token_was_verified(
    shared_app, labvault_make_user, caplog, decoded
):
    caplog.set_level(logging.INFO, logger=shared_app.logger.name)
    user = labvault_make_user(shared_app)
    client = shared_app.test_client()
    signed_in = sign_in(shared_app, user.id)
    assert me(client, signed_in.access_token).status_code == 200
    assert me(client, signed_in.access_token).status_code == 200
    assert decoded.count(signed_in.access_token) == 1  # remembered

    logout = client.post("/auth/logout", json={"refresh_token": signed_in.refresh_token})
    assert logout.status_code == 204
    assert_access_refused(me(client, signed_in.access_token), caplog)
    assert me(client, user.token).json["id"] == user.id  # another session goes on


def test_a_deactivated_user_is_refused_at_once(shared_app, labvault_make_user, caplog):
    caplog.set_level(logging.INFO, logger=shared_app.logger.name)
    user = labvault_make_user(shared_app)
    client = shared_app.test_client()
    assert me(client, user.token).status_code == 200
    with shared_app.app_context():
        session = get_session()
        begin_write(session)
        session.execute(sa.update(User).where(User.id == user.id).values(status="deactivated"))
        session.commit()
    assert me(client, user.token).status_code == 401
    assert "the account is deactivated" in refused_reason(caplog)


def test_a_remembered_token_is_refused_once_it_expires(
    labvault_make_app, labvault_make_user, labvault_clock, caplog, decoded
):
    app = labvault_make_app(ACCESS_TOKEN_LIFETIME=1)
    caplog.set_level(logging.INFO, logger=app.logger.name)
    user = labvault_make_user(app)
    client = app.test_client()
    assert me(client, user.token).status_code == 200
    labvault_clock.advance(dt.timedelta(seconds=50))  # still valid: remembered
    assert me(client, user.token).status_code == 200
    assert decoded == [user.token]

    # expired, the clock leeway (5 s) too: verified again, and refused as PyJWT refuses
    labvault_clock.advance(dt.timedelta(seconds=16))
    assert me(client, user.token).status_code == 401
    assert "token has expired" in refused_reason(caplog)
    assert decoded == [user.token, user.token]
    assert me(client, user.token).status_code == 401  # and again, never remembered


def test_within_the_leeway_an_expired_token_is_accepted_as_before(
    labvault_make_app, labvault_make_user, labvault_clock, decoded
):
    app = labvault_make_app(ACCESS_TOKEN_LIFETIME=1)
    user = labvault_make_user(app)
    client = app.test_client()
    assert me(client, user.token).status_code == 200
    labvault_clock.advance(dt.timedelta(seconds=62))  # past exp, within the leeway
    assert me(client, user.token).status_code == 200
    assert decoded == [user.token]


def signer() -> TokenSigner:
    key = secrets.token_hex(32)
    lifetime = dt.timedelta(hours=1)
    return TokenSigner(
        algorithm="HS256",
        signing_key=key,
        verifying_key=key,
        issuer="labvault",
        lifetime=lifetime,
        session_lifetime=lifetime,
    )


def test_the_memory_is_bounded_and_forgets_the_oldest(monkeypatch, decoded):
    monkeypatch.setattr(tokens, "VERIFIED_TOKENS", 3)
    tokens_signer = signer()
    issued = [tokens_signer.issue(user_id, secrets.token_hex(16)) for user_id in range(1, 6)]
    for token in issued:
        tokens_signer.verify(token)
    assert len(tokens_signer._verified) == 3
    decoded.clear()
    for token in issued[2:]:  # the newest three are remembered
        tokens_signer.verify(token)
    assert decoded == []
    tokens_signer.verify(issued[0])  # the oldest was forgotten
    assert decoded == [issued[0]]
    assert len(tokens_signer._verified) == 3


def test_refused_tokens_are_not_remembered_and_claims_are_copies(decoded):
    tokens_signer = signer()
    token = tokens_signer.issue(1, secrets.token_hex(16))
    head, signature = token.rsplit(".", 1)
    # Change the signature's first character: it carries six whole bits, so the
    # forgery stays well-formed base64url (the last character carries padding bits,
    # and changing it can make the token malformed instead of wrongly signed).
    forged = head + "." + ("B" if signature[0] == "A" else "A") + signature[1:]
    for _ in range(2):
        with pytest.raises(tokens.InvalidToken, match="signature"):
            tokens_signer.verify(forged)
    assert decoded == [forged, forged]
    claims = tokens_signer.verify(token)
    claims["sub"] = "2"
    assert tokens_signer.verify(token)["sub"] == "1"
