"""Creating and changing user accounts (used by the API and the CLI)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from marshmallow import ValidationError, validate
from sqlalchemy.orm import Session

from labvault.db import begin_write
from labvault.errors import LabvaultError
from labvault.users.models import Role, Status, User

_valid_email = validate.Email(error="{input!r} is not a valid email address")


class UserError(LabvaultError):
    """A user operation cannot be done (unknown user, duplicate email, bad value)."""


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    try:
        _valid_email(email)
    except ValidationError as exc:
        raise UserError(str(exc.messages[0])) from None
    return email


def find_user(session: Session, email: str, *, for_update: bool = False) -> User:
    query = sa.select(User).where(User.email == normalize_email(email))
    if for_update:
        begin_write(session)
        query = query.with_for_update()
    user = session.scalars(query).first()
    if user is None:
        raise UserError(f"no user with email {email!r}")
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


def lock_user(session: Session, user_id: int) -> User | None:
    """Start a write and load the user locked for it (None when there is no such user)."""
    begin_write(session)
    return session.get(User, user_id, with_for_update=True)


def update_user(
    session: Session, user: User, *, role: Role | None = None, status: Status | None = None
) -> User:
    """Change role and status in the current write (see :func:`lock_user`) and commit.

    Deactivating ends the user's sessions and revokes their API keys, so reactivating an
    account never brings old (perhaps leaked) credentials back.
    """
    from labvault.auth.service import revoke_all_credentials

    if role is not None:
        user.role = role
    if status is not None:
        if status == Status.DEACTIVATED and user.status != Status.DEACTIVATED:
            revoke_all_credentials(session, user)
        user.status = status
    session.commit()
    return user


def has_users(session: Session) -> bool:
    return session.scalars(sa.select(User.id).limit(1)).first() is not None


def list_users() -> sa.Select[Any]:
    return sa.select(User).order_by(User.id)


def bootstrap_admin(session: Session, email: str) -> str | None:
    """On an empty database, create an admin and return an API key for it (else None)."""
    from labvault.auth.service import create_api_key

    if has_users(session):
        return None
    admin = create_user(session, email, display_name="Administrator", role=Role.ADMIN)
    _, secret = create_api_key(session, admin, "first run", None)
    return secret
