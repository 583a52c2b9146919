"""Accounts: creating, finding and changing users (for the API and the CLI)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labvault.audit.service import Actor, record
from labvault.auth.models import Role, Status, User
from labvault.auth.service import create_api_key, revoke_all_credentials
from labvault.auth.tokens import TokenSigner
from labvault.db import begin_write
from labvault.emails import normalize_email
from labvault.errors import Conflict, LabvaultError, NotFound


class UserError(LabvaultError):
    """A user operation cannot be done (unknown user, duplicate email, bad value)."""


def find_user(session: Session, who: str, *, for_update: bool = False) -> User:
    """The user with this email (in any form of it: see labvault.emails), or this id (an
    account may have no email). InvalidEmail for what is neither."""
    if who.isdigit():
        query = sa.select(User).where(User.id == int(who))
    else:
        query = sa.select(User).where(User.email == normalize_email(who))
    if for_update:
        begin_write(session)
        query = query.with_for_update()
    user = session.scalars(query).first()
    if user is None:
        kind = "id" if who.isdigit() else "email"
        raise UserError(f"no user with {kind} {who!r}")
    return user


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user with id {user_id}")
    return user


def create_user(
    session: Session,
    email: str,
    *,
    display_name: str = "",
    role: Role = Role.USER,
    status: Status = Status.ACTIVE,
) -> User:
    email = normalize_email(email)
    begin_write(session)
    if session.scalars(sa.select(User.id).where(User.email == email)).first() is not None:
        session.rollback()
        raise UserError(f"a user with email {email!r} already exists")
    user = User(
        email=email, display_name=display_name or email.split("@")[0], role=role, status=status
    )
    session.add(user)
    session.commit()
    return user


def lock_user(session: Session, user_id: int) -> User:
    """Start a write and load the user locked for it (NotFound when there is no such user)."""
    begin_write(session)
    user = session.get(User, user_id, with_for_update=True, populate_existing=True)
    if user is None:
        raise NotFound(f"no user with id {user_id}")
    return user


def update_user(
    session: Session,
    signer: TokenSigner,
    user: User,
    *,
    role: Role | None = None,
    status: Status | None = None,
    actor: Actor | str | None = None,
) -> User:
    """Change role and status in the current write (see :func:`lock_user`) and commit.

    Deactivating ends the user's sessions (with their access tokens, which ``signer``
    issued) and revokes their API keys, so reactivating an account never brings old
    (perhaps leaked) credentials back. Each real change is an audit event of ``actor``
    (a user, or "cli").
    """
    if role is not None and role != user.role:
        _audit_change(session, user, "role", user.role.value, role.value, actor)
        user.role = role
    if status is not None and status != user.status:
        _audit_change(session, user, "status", user.status.value, status.value, actor)
        if status == Status.DEACTIVATED:
            revoke_all_credentials(session, signer, user)
        user.status = status
    session.commit()
    return user


def _audit_change(
    session: Session, user: User, what: str, old: str, new: str, actor: Actor | str | None
) -> None:
    details = {"email": user.email, "from": old, "to": new}
    record(session, f"user.{what}_changed", f"user {user.id}", actor=actor, details=details)


def change_user(
    session: Session, signer: TokenSigner, admin: User, user: User, changes: dict[str, Any]
) -> User:
    """An admin's change of role or status (see :func:`update_user`); no admin may demote
    or deactivate themselves, so there is always one left."""
    demotes = changes.get("role") not in (None, Role.ADMIN)
    deactivates = changes.get("status") not in (None, Status.ACTIVE)
    if user.id == admin.id and (demotes or deactivates):
        raise Conflict("admins cannot demote or deactivate themselves")
    return update_user(session, signer, user, actor=admin, **changes)


def has_users(session: Session) -> bool:
    return session.scalars(sa.select(User.id).limit(1)).first() is not None


def list_users() -> sa.Select[Any]:
    return sa.select(User).order_by(User.id)


def bootstrap_admin(session: Session, email: str) -> str | None:
    """On an empty database, create an admin and return an API key for it (else None)."""
    if has_users(session):
        return None
    admin = create_user(session, email, display_name="Administrator", role=Role.ADMIN)
    _, secret = create_api_key(session, admin, "first run", None)
    return secret
