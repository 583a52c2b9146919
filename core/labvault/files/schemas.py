"""File response schemas (an upload's body: :mod:`labvault.web.files`)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from labvault.schemas import UserRefSchema


class OriginalSchema(ma.Schema):
    source = fields.String(metadata={"description": "instance name from FILE_SOURCES"})
    path = fields.String(metadata={"description": "relative to the source's root"})
    size = fields.Integer(allow_none=True, metadata={"description": "when copied, in bytes"})
    modified = fields.DateTime(allow_none=True, metadata={"description": "when copied"})
    checked_at = fields.DateTime(
        allow_none=True, metadata={"description": "when the original was last compared"}
    )


class FileSchema(ma.Schema):
    id = fields.Integer()
    name = fields.String(metadata={"description": "the uploaded file's name, cleaned"})
    size = fields.Integer(metadata={"description": "in bytes"})
    sha256 = fields.String(metadata={"description": "of the content; also its ETag"})
    media_type = fields.String()
    origin = fields.String(
        metadata={"description": "upload, or <file source>:<path> of the original"}
    )
    original = fields.Nested(
        OriginalSchema,
        allow_none=True,
        metadata={"description": "for a copy from a file source: its original (else null)"},
    )
    created_by = fields.Nested(UserRefSchema, allow_none=True)
    created_at = fields.DateTime()
    items = fields.List(
        fields.String(), metadata={"description": "refcodes of items it is attached to"}
    )
    content_url = fields.String(metadata={"description": "where to download the content"})
