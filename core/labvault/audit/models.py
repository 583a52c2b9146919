"""One row per audited action (``labvault.audit``); its columns are declared in
:mod:`labvault.audit.tables`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Mapped

from labvault.audit.tables import audit_events
from labvault.db import Base


class AuditEvent(Base):
    """An admin or security action. Written in the transaction of the action itself, so
    an action is never without its event nor an event without its action."""

    __table__ = audit_events

    id: Mapped[int]
    at: Mapped[dt.datetime]
    action: Mapped[str]
    actor_id: Mapped[int | None]
    actor: Mapped[str]
    target: Mapped[str]
    details: Mapped[dict[str, Any]]
    client: Mapped[str | None]
