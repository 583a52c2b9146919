"""Sessions (access + refresh tokens), personal API keys and bearer authentication.

A session is a refresh-token family; each access token names its session (``sid``).
Signing out, a replayed refresh token and deactivating the user revoke sessions, and a
revoked session's id stays in ``revoked_sessions`` for as long as an access token of it
may be valid, so those tokens stop at once too: the bearer check reads it in the query
that loads the user (one primary-key lookup more, no round trip).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labvault.audit.service import record
from labvault.auth.models import ApiKey, RefreshToken, RevokedSession, User
from labvault.auth.tokens import LEEWAY, InvalidToken, TokenSigner
from labvault.db import begin_write, insert_missing, utcnow
from labvault.errors import Forbidden, Invalid, NotFound, Unauthenticated
from labvault.plugin import SessionTokens

API_KEY_PREFIX = "lvk_"
REFRESH_TOKEN_PREFIX = "lvr_"
#: How stale ``last_used_at`` of an API key may get before a request writes it again.
API_KEY_TOUCH_INTERVAL = dt.timedelta(minutes=1)


class AuthError(Unauthenticated):
    """A credential is refused (401). The message says why, for the log only: the client
    gets one message for every refused token (:func:`labvault.web.access.refuse_token`)."""


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_refresh_token(
    session: Session, user: User, family_id: str, expires_at: dt.datetime
) -> str:
    secret = REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        RefreshToken(
            user_id=user.id, family_id=family_id, token_hash=_hash(secret), expires_at=expires_at
        )
    )
    return secret


def start_session(
    session: Session,
    signer: TokenSigner,
    user: User,
    lifetime: dt.timedelta | None = None,
    *,
    access_lifetime: dt.timedelta | None = None,
) -> SessionTokens:
    """Sign a user in: a new refresh-token family and an access token. Commits.

    The session lasts ``lifetime`` (default: SESSION_LIFETIME) from now, its first access
    token ``access_lifetime`` (default: ACCESS_TOKEN_LIFETIME).
    """
    begin_write(session)
    lifetime = lifetime or signer.session_lifetime
    access_lifetime = access_lifetime or signer.lifetime
    family_id = uuid.uuid4().hex
    refresh = _new_refresh_token(session, user, family_id, utcnow() + lifetime)
    session.commit()
    access = signer.issue(user.id, family_id, access_lifetime)
    return SessionTokens(access, refresh, int(access_lifetime.total_seconds()))


def _remember_revoked(session: Session, ends: dict[str, dt.datetime]) -> None:
    """Keep revoked sessions (family id -> when their last access token has expired)
    in the deny list, and forget those whose tokens have all expired."""
    now = utcnow()
    session.execute(sa.delete(RevokedSession).where(RevokedSession.expires_at < now))
    for family_id, end in ends.items():
        # the clock leeway of the check: a token is taken until LEEWAY past its exp
        values = {"session_id": family_id, "expires_at": end + LEEWAY}
        insert_missing(session, RevokedSession, values)


def _revoke_family(session: Session, signer: TokenSigner, family_id: str) -> None:
    now = utcnow()
    session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    # its access tokens came from sign-in and refreshes, the last one before now
    _remember_revoked(session, {family_id: now + signer.lifetime})


def _locked_token(session: Session, secret: str) -> RefreshToken | None:
    begin_write(session)
    # OF: the row's user comes along through an outer join, and PostgreSQL refuses to lock
    # the nullable side of one
    return session.scalars(
        sa.select(RefreshToken)
        .where(RefreshToken.token_hash == _hash(secret))
        .with_for_update(of=RefreshToken)
    ).one_or_none()


def refresh_session(session: Session, signer: TokenSigner, secret: str) -> SessionTokens:
    """Rotate a refresh token. Reusing an already rotated one revokes its whole family."""
    token = _locked_token(session, secret)
    if token is None:
        raise AuthError("unknown refresh token")
    if token.revoked_at is not None:
        raise AuthError("this session has been revoked; sign in again")
    if token.used_at is not None:
        _revoke_family(session, signer, token.family_id)
        session.commit()
        raise AuthError("refresh token was already used; the session has been revoked")
    if token.expires_at <= utcnow():
        raise AuthError("the session has expired; sign in again")
    if not token.user.is_active:
        raise AuthError("the account is deactivated")
    token.used_at = utcnow()
    refresh = _new_refresh_token(session, token.user, token.family_id, token.expires_at)
    session.commit()
    access = signer.issue(token.user_id, token.family_id)
    return SessionTokens(access, refresh, int(signer.lifetime.total_seconds()))


def end_session(session: Session, signer: TokenSigner, secret: str) -> None:
    """Sign out: revoke the family of a refresh token and its access tokens (unknown
    tokens are ignored)."""
    token = _locked_token(session, secret)
    if token is not None:
        _revoke_family(session, signer, token.family_id)
    session.commit()


def revoke_all_credentials(session: Session, signer: TokenSigner, user: User) -> None:
    """End every session (their access tokens too) and revoke every API key of a user
    (part of the caller's write)."""
    now = utcnow()
    # a session's access tokens end at most ACCESS_TOKEN_LIFETIME after the session (one
    # issued by its last refresh), or with it (labvault tokens issue): while one may live
    last_ends = (
        sa.select(RefreshToken.family_id, sa.func.max(RefreshToken.expires_at))
        .where(
            RefreshToken.user_id == user.id,
            RefreshToken.revoked_at.is_(None),
            RefreshToken.expires_at > now - signer.lifetime - LEEWAY,
        )
        .group_by(RefreshToken.family_id)
    )
    ends = {family_id: end + signer.lifetime for family_id, end in session.execute(last_ends)}
    session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    _remember_revoked(session, ends)
    session.execute(
        sa.update(ApiKey)
        .where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=now)
    )


#: Why an API key cannot create another one: a leaked key would mint keys outliving it.
KEY_FROM_KEY_REFUSED = (
    "API keys are created with an access token from signing in, not with another API key"
)


def create_api_key(
    session: Session,
    user: User,
    name: str,
    expires_at: dt.datetime | None,
    *,
    with_api_key: bool = False,
) -> tuple[ApiKey, str]:
    """A new personal API key; the secret is returned once and stored only hashed.

    ``expires_at`` must lie in the future; it is kept as the database keeps it (UTC,
    whole seconds), so the answer and later listings show the same expiry. Forbidden
    when the user asks ``with_api_key`` (signed in with one, not with an access token).
    """
    if with_api_key:
        raise Forbidden(KEY_FROM_KEY_REFUSED)
    if expires_at is not None:
        expires_at = expires_at.astimezone(dt.UTC).replace(microsecond=0)
        if expires_at <= utcnow():
            raise Invalid(fields={"expires_at": ["must be in the future"]})
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
    begin_write(session)
    key = ApiKey(
        user_id=user.id,
        name=name,
        hint=secret[:12],
        key_hash=_hash(secret),
        expires_at=expires_at,
    )
    session.add(key)
    session.flush()  # the key's id, for its audit event
    record(
        session,
        "api_key.created",
        f"user {user.id}",
        actor=user,
        details={"key_id": key.id, "name": name, "expires_at": _iso(expires_at)},
    )
    session.commit()
    return key, secret


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def list_api_keys(session: Session, user: User) -> list[ApiKey]:
    return list(
        session.scalars(
            sa.select(ApiKey)
            .where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
            .order_by(ApiKey.id)
        )
    )


def revoke_api_key(session: Session, user: User, key_id: int) -> None:
    """Revoke one of the user's keys; NotFound when the user has no such key."""
    begin_write(session)
    key = session.scalars(
        sa.select(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
        .with_for_update(of=ApiKey)  # not its user's row, joined in (see _locked_token)
        .execution_options(populate_existing=True)
    ).first()
    if key is None:
        session.rollback()
        raise NotFound(f"you have no API key with id {key_id}")
    key.revoked_at = utcnow()
    details = {"key_id": key.id, "name": key.name}
    record(session, "api_key.revoked", f"user {user.id}", actor=user, details=details)
    session.commit()


def _user_for_api_key(session: Session, secret: str) -> User:
    key = session.scalars(sa.select(ApiKey).where(ApiKey.key_hash == _hash(secret))).one_or_none()
    if key is None or key.revoked_at is not None:
        raise AuthError("unknown or revoked API key")
    now = utcnow()
    if key.expires_at is not None and key.expires_at <= now:
        raise AuthError("API key has expired")
    user = key.user
    stale = key.last_used_at is None or key.last_used_at < now - API_KEY_TOUCH_INTERVAL
    if stale:  # a short write of its own, after the read
        begin_write(session)
        session.execute(sa.update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now))
        session.commit()
    return user


#: Built once: every request runs it, and session.get builds its statement each time.
#: Whether the token's session was revoked comes along in the same statement.
_USER_BY_ID = sa.select(
    User, sa.exists().where(RevokedSession.session_id == sa.bindparam("session_id"))
).where(User.id == sa.bindparam("user_id"))


def authenticate_bearer(session: Session, signer: TokenSigner, credential: str) -> User:
    """The active user a bearer credential (JWT or API key) belongs to, or AuthError."""
    if credential.startswith(API_KEY_PREFIX):
        user = _user_for_api_key(session, credential)
    else:
        try:
            claims = signer.verify(credential)
        except InvalidToken as exc:
            raise AuthError(str(exc)) from None
        found = session.execute(
            _USER_BY_ID, {"user_id": int(claims["sub"]), "session_id": claims["sid"]}
        ).first()
        if found is None:
            raise AuthError("the token's user does not exist")
        user, revoked = found
        if revoked:
            raise AuthError("the session has been revoked")
    if not user.is_active:
        raise AuthError("the account is deactivated")
    return user
