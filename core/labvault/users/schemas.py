"""Request and response schemas of the user routes."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from labvault.auth.models import Role, Status


class UserSchema(ma.Schema):
    id = fields.Integer(dump_only=True)
    email = fields.Email(dump_only=True)
    display_name = fields.String(dump_only=True)
    role = fields.Enum(Role, by_value=True, dump_only=True)
    status = fields.Enum(Status, by_value=True, dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class UserUpdateSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    role = fields.Enum(Role, by_value=True, metadata={"description": "user, manager or admin"})
    status = fields.Enum(
        Status, by_value=True, metadata={"description": "active, unverified or deactivated"}
    )
