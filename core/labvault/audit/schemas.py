"""Schemas of the audit log's route (``GET /audit``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from labvault.audit.tables import EARLIEST, LATEST
from labvault.schemas import Id, Strict


class AuditEventSchema(ma.Schema):
    id = fields.Integer()
    at = fields.DateTime(metadata={"description": "when (UTC, whole seconds)"})
    action = fields.String(metadata={"example": "user.role_changed"})
    actor_id = fields.Integer(
        allow_none=True,
        metadata={
            "description": "the acting user; null for the CLI, the server itself, or "
            "a user since deleted"
        },
    )
    actor = fields.String(metadata={"description": "the actor's email, or 'cli' or 'system'"})
    target = fields.String(metadata={"example": "user 12"})
    details = fields.Dict(metadata={"description": "what changed (never a secret)"})
    client = fields.String(
        allow_none=True, metadata={"description": "the client's address, for HTTP requests"}
    )


class _Moment(fields.AwareDateTime):
    """A time, brought within what every database stores (no event is older or newer:
    a filter beyond that range means the same as one at its end)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dt.datetime:
        moment: dt.datetime = super()._deserialize(value, attr, data, **kwargs)
        return min(max(moment, EARLIEST), LATEST)


def _moment(description: str) -> fields.AwareDateTime:
    return _Moment(
        default_timezone=dt.UTC,
        metadata={"description": f"{description} (ISO 8601; UTC unless a zone is given)"},
    )


class AuditArgsSchema(Strict):
    """The filters of ``GET /audit``; an unknown one is a 422, never ignored."""

    PAGINATION = frozenset({"page", "page_size"})

    action = fields.String(
        validate=validate.Length(min=1, max=60),
        metadata={"example": "api_key.created"},
    )
    actor_id = Id(strict=False, metadata={"description": "events of this user"})
    target = fields.String(
        validate=validate.Length(min=1, max=320),
        metadata={"description": "events whose target contains this text (any case)"},
    )
    since = _moment("events at or after this time")
    until = _moment("events before this time (none, if it is not after since)")

    @ma.pre_load
    def _without_pagination(self, data: Mapping[str, Any], **_: Any) -> dict[str, Any]:
        return {name: data[name] for name in data if name not in self.PAGINATION}
