"""Collection request and response schemas."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from labvault.schemas import IDENTIFIER_ERROR, IDENTIFIER_PATTERN, Id, UserRefSchema
from labvault.schemas import Strict as _Strict


class ShareSchema(_Strict):
    user_id = Id(required=True)
    permission = fields.String(required=True, validate=validate.OneOf(["read", "write"]))
    display_name = fields.String(dump_only=True)


class CollectionCreateSchema(_Strict):
    collection_id = fields.String(
        required=True,
        validate=validate.Regexp(IDENTIFIER_PATTERN, error=IDENTIFIER_ERROR),
    )
    title = fields.String(load_default="", validate=validate.Length(max=500))
    description = fields.String(load_default="", validate=validate.Length(max=200_000))
    shares = fields.List(fields.Nested(ShareSchema), load_default=list)


class CollectionPatchSchema(_Strict):
    collection_id = fields.String(
        validate=validate.Regexp(IDENTIFIER_PATTERN, error=IDENTIFIER_ERROR)
    )
    title = fields.String(validate=validate.Length(max=500))
    description = fields.String(validate=validate.Length(max=200_000))
    shares = fields.List(
        fields.Nested(ShareSchema), metadata={"description": "replaces the current shares"}
    )


class CollectionSchema(ma.Schema):
    collection_id = fields.String()
    title = fields.String()
    description = fields.String()
    created_by = fields.Nested(UserRefSchema, allow_none=True)
    shares = fields.List(fields.Nested(ShareSchema))
    item_count = fields.Integer()
    permission = fields.String(metadata={"description": "yours: read, write or owner"})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    version = fields.Integer()
