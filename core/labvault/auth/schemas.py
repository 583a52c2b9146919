"""Request and response schemas of the session and API-key routes."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate


class _Strict(ma.Schema):
    class Meta:
        unknown = ma.RAISE


class RefreshRequestSchema(_Strict):
    refresh_token = fields.String(required=True, validate=validate.Length(min=1, max=200))


class SessionTokensSchema(ma.Schema):
    access_token = fields.String(metadata={"description": "JWT for 'Authorization: Bearer'"})
    refresh_token = fields.String(
        metadata={"description": "single use: exchange it at /auth/refresh for a new pair"}
    )
    token_type = fields.String(metadata={"example": "Bearer"})
    expires_in = fields.Integer(metadata={"description": "access token lifetime in seconds"})


class ApiKeySchema(ma.Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String(dump_only=True)
    hint = fields.String(dump_only=True, metadata={"description": "first characters of the key"})
    created_at = fields.DateTime(dump_only=True)
    expires_at = fields.DateTime(dump_only=True, allow_none=True)
    last_used_at = fields.DateTime(dump_only=True, allow_none=True)


class ApiKeyCreateSchema(_Strict):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    expires_at = fields.AwareDateTime(
        load_default=None,
        allow_none=True,
        metadata={"description": "optional expiry (ISO 8601 with a time zone)"},
    )


class ApiKeyCreatedSchema(ApiKeySchema):
    key = fields.String(
        dump_only=True, metadata={"description": "the key itself; shown only this once"}
    )
