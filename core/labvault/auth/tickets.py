"""Single-use tickets: the state of a sign-in flow, the secret of an email link.

The secret is random and travels to the browser; the database keeps its hash and the
ticket's data, so a flow may end on another worker than the one that started it. Spending
a ticket is one conditional UPDATE, so of two requests with the same secret only one wins.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labvault.auth.models import SignInTicket
from labvault.db import begin_write, utcnow

#: Spent and expired tickets are deleted this long after their end.
KEEP_AFTER_END = dt.timedelta(days=1)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_ticket(
    session: Session, purpose: str, data: Mapping[str, Any], lifetime: dt.timedelta
) -> str:
    """A new ticket for ``purpose`` holding ``data``; returns its secret. Commits."""
    begin_write(session)
    now = utcnow()
    session.execute(sa.delete(SignInTicket).where(SignInTicket.expires_at < now - KEEP_AFTER_END))
    secret = secrets.token_urlsafe(32)
    session.add(
        SignInTicket(
            purpose=purpose,
            token_hash=_hash(secret),
            data=dict(data),
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    session.commit()
    return secret


def _live(purpose: str, secret: str) -> sa.ColumnElement[bool]:
    return sa.and_(
        SignInTicket.token_hash == _hash(secret),
        SignInTicket.purpose == purpose,
        SignInTicket.used_at.is_(None),
        SignInTicket.expires_at > utcnow(),
    )


def read_ticket(session: Session, purpose: str, secret: str) -> dict[str, Any] | None:
    """The data of a live ticket (unused, unexpired, for ``purpose``), leaving it live."""
    found = session.scalars(sa.select(SignInTicket.data).where(_live(purpose, secret))).first()
    return dict(found) if found is not None else None


def spend_ticket(session: Session, purpose: str, secret: str) -> dict[str, Any] | None:
    """Use a live ticket up and return its data; None if unknown, expired or spent. Commits."""
    if not secret or len(secret) > 200:
        return None
    begin_write(session)
    spent = session.execute(
        sa.update(SignInTicket).where(_live(purpose, secret)).values(used_at=utcnow())
    )
    if getattr(spent, "rowcount", 0) != 1:
        session.rollback()
        return None
    data = session.scalars(
        sa.select(SignInTicket.data).where(SignInTicket.token_hash == _hash(secret))
    ).one()
    session.commit()
    return dict(data)
