"""One row per audited action (``labvault.audit``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from labvault.db import Base


class AuditEvent(Base):
    """An admin or security action. Written in the transaction of the action itself, so
    an action is never without its event nor an event without its action."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(index=True)
    #: What was done, as ``noun.verb``: "user.role_changed", "api_key.created", ...
    action: Mapped[str] = mapped_column(sa.String(60), index=True)
    #: Who did it (None: the CLI, a scheduled job, or a user since deleted).
    actor_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    #: Who did it, as shown even after the user is gone ("alice@lab.org", "cli").
    actor: Mapped[str] = mapped_column(sa.String(320))
    #: What it was done to ("user 12", "item lab:ABCDEF", "backup nightly").
    target: Mapped[str] = mapped_column(sa.String(320))
    #: What changed (never a secret): {"from": "user", "to": "admin"}, ...
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    #: The client's address, when the action came over HTTP.
    client: Mapped[str | None] = mapped_column(sa.String(64))
