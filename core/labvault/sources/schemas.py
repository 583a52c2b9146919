"""Schemas of the file-source routes."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from labvault.schemas import Strict


class SourceSchema(ma.Schema):
    name = fields.String(metadata={"description": "instance name from FILE_SOURCES"})
    type = fields.String()
    description = fields.String()
    built_at = fields.DateTime(
        allow_none=True, metadata={"description": "when the cached listing was built"}
    )
    cache_age = fields.Integer(
        allow_none=True, metadata={"description": "seconds since the listing was built"}
    )
    entry_count = fields.Integer()
    last_error = fields.String(
        allow_none=True, metadata={"description": "why the last rebuild failed, if it did"}
    )


class EntriesQuerySchema(Strict):
    path = fields.String(
        load_default="",
        validate=validate.Length(max=1000),
        metadata={"description": "a folder, relative to the source's root ('' is the root)"},
    )
    refresh = fields.Boolean(
        load_default=False,
        metadata={"description": "rebuild the listing first (unless REMOTE_CACHE_MIN_AGE says no)"},
    )


class EntrySchema(ma.Schema):
    name = fields.String()
    path = fields.String(metadata={"description": "relative to the source's root"})
    is_dir = fields.Boolean()
    size = fields.Integer(allow_none=True, metadata={"description": "bytes (files only)"})
    modified = fields.DateTime(allow_none=True)


class EntriesSchema(ma.Schema):
    source = fields.String()
    path = fields.String()
    built_at = fields.DateTime(metadata={"description": "when this listing was built"})
    age = fields.Integer(metadata={"description": "seconds since then"})
    refreshed = fields.Boolean(metadata={"description": "whether this request rebuilt it"})
    note = fields.String(allow_none=True, metadata={"description": "why it was not rebuilt"})
    entries = fields.List(fields.Nested(EntrySchema))


class FromSourceSchema(Strict):
    source = fields.String(required=True, validate=validate.Length(min=1, max=40))
    path = fields.String(
        required=True,
        validate=validate.Length(min=1, max=1000),
        metadata={"description": "the file, relative to the source's root"},
    )
