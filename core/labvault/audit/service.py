"""Writing audit events, and listing them.

An event joins the write transaction of the action it records and is never committed on
its own: the action and its event are committed together or not at all, so a refused or
failed action leaves no event behind.

The audit package sits below users and auth, so it knows no user model: an actor is
anything with an ``id`` and an ``email`` (a user), or a label ("cli", "system") for what
no user did.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labvault.audit.models import AuditEvent
from labvault.audit.tables import matching
from labvault.db import in_write_transaction, utcnow
from labvault.errors import WriteOutsideTransaction

#: The actor of a command run by a deployer on the server (``labvault ...``).
CLI = "cli"
#: The actor of what the server does by itself, on nobody's behalf.
SYSTEM = "system"

#: The key of a session's ``info`` holding the address of the client whose request the
#: session serves (the web layer sets it, :mod:`labvault.web.session`); the events written
#: in the session record it. A session without it (the CLI's, a backup's thread) has none.
CLIENT = "labvault_client"

#: Detail names that would hold a credential; recording one is a bug, refused at once.
_SECRET_NAME = re.compile(r"password|secret|token|credential|(^|_)key$", re.IGNORECASE)
#: The lengths of the columns client, and actor and target.
_CLIENT_LENGTH = 64
_LABEL_LENGTH = 320


class Actor(Protocol):
    """Who acted: a user (``email`` may be None for an account without one)."""

    @property
    def id(self) -> int: ...

    @property
    def email(self) -> str | None: ...


def _check_no_secrets(details: Mapping[str, Any], path: str = "") -> None:
    for name, value in details.items():
        if _SECRET_NAME.search(str(name)):
            raise ValueError(f"audit details must not hold secrets: {path}{name}")
        if isinstance(value, Mapping):
            _check_no_secrets(value, f"{path}{name}.")


def _client(session: Session) -> str | None:
    """The address of the client whose request ``session`` serves, if any."""
    address = session.info.get(CLIENT)
    return address[:_CLIENT_LENGTH] if address else None


def record(
    session: Session,
    action: str,
    target: str,
    *,
    actor: Actor | str | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Add an event to the current write transaction (the caller commits it).

    ``action`` is ``noun.verb`` ("user.role_changed"); ``target`` says what it was done
    to ("user 12"); ``actor`` is the acting user, or a label such as :data:`CLI` (None:
    :data:`SYSTEM`). ``details`` say what changed and never hold a secret (a name that
    looks like one raises ValueError).
    """
    if not in_write_transaction(session):
        raise WriteOutsideTransaction(f"audit event {action} outside the action's write")
    details = dict(details or {})
    _check_no_secrets(details)
    if actor is None or isinstance(actor, str):
        actor_id, label = None, actor or SYSTEM
    else:
        actor_id, label = actor.id, actor.email or f"user {actor.id}"
    event = AuditEvent(
        at=utcnow(),
        action=action,
        actor_id=actor_id,
        actor=label[:_LABEL_LENGTH],
        target=target[:_LABEL_LENGTH],
        details=details,
        client=_client(session),
    )
    session.add(event)
    return event


def list_events(
    *,
    action: str | None = None,
    actor_id: int | None = None,
    target: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> sa.Select[Any]:
    """The events matching every filter given (see
    :func:`~labvault.audit.tables.matching`), newest first (for
    :func:`labvault.paging.page_rows`)."""
    conditions = matching(action=action, actor_id=actor_id, target=target, since=since, until=until)
    return sa.select(AuditEvent).where(*conditions).order_by(AuditEvent.id.desc())
