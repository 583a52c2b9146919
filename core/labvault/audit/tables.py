"""The audit log's table, declared with Core (the model,
:class:`labvault.audit.models.AuditEvent`, maps it), and the filters of a listing:
``labvault audit`` reads it without the ORM."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from labvault.database import METADATA, MYSQL_TABLE_OPTIONS, UTCDateTime

audit_events = sa.Table(
    "audit_events",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", UTCDateTime(), nullable=False, index=True),
    #: What was done, as ``noun.verb``: "user.role_changed", "api_key.created", ...
    sa.Column("action", sa.String(60), nullable=False, index=True),
    #: Who did it (None: the CLI, a scheduled job, or a user since deleted).
    sa.Column("actor_id", sa.ForeignKey("users.id", ondelete="SET NULL"), index=True),
    #: Who did it, as shown even after the user is gone ("alice@lab.org", "cli").
    sa.Column("actor", sa.String(320), nullable=False),
    #: What it was done to ("user 12", "item lab:ABCDEF", "backup nightly").
    sa.Column("target", sa.String(320), nullable=False),
    #: What changed (never a secret): {"from": "user", "to": "admin"}, ...
    sa.Column("details", sa.JSON, nullable=False),
    #: The client's address, when the action came over HTTP.
    sa.Column("client", sa.String(64)),
    **MYSQL_TABLE_OPTIONS,
)

#: The times a filter may name: what every database stores, once converted to UTC.
EARLIEST = dt.datetime(1000, 1, 2, tzinfo=dt.UTC)
LATEST = dt.datetime(9999, 12, 30, tzinfo=dt.UTC)


def matching(
    *,
    action: str | None = None,
    actor_id: int | None = None,
    target: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> list[sa.ColumnElement[Any]]:
    """The conditions of the events matching every filter given: ``target`` matches a
    part of the target, in any case; ``since`` is inclusive, ``until`` exclusive."""
    columns = audit_events.c
    conditions: list[sa.ColumnElement[Any]] = []
    if action is not None:
        conditions.append(columns.action == action)
    if actor_id is not None:
        conditions.append(columns.actor_id == actor_id)
    if target:
        conditions.append(columns.target.icontains(target, autoescape=True))
    if since is not None:
        conditions.append(columns.at >= since)
    if until is not None:
        conditions.append(columns.at < until)
    return conditions
