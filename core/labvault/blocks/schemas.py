"""Block request and response schemas."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from labvault.schemas import Id
from labvault.schemas import Strict as _Strict


class BlockCreateSchema(_Strict):
    block_type = fields.String(required=True, validate=validate.Length(min=1, max=60))
    title = fields.String(load_default="", validate=validate.Length(max=500))
    data = fields.Dict(load_default=dict, metadata={"description": "as the block type's schema"})
    file_ids = fields.List(
        Id(),
        load_default=list,
        validate=validate.Length(max=100),
        metadata={"description": "ids of files attached to the item"},
    )


class BlockPatchSchema(_Strict):
    title = fields.String(validate=validate.Length(max=500))
    data = fields.Dict()
    file_ids = fields.List(Id(), validate=validate.Length(max=100))


class BlockSchema(ma.Schema):
    id = fields.Integer()
    block_type = fields.String()
    title = fields.String()
    data = fields.Dict()
    file_ids = fields.List(fields.Integer())
    computed = fields.Dict(metadata={"description": "results the server computed"})
    error = fields.String(allow_none=True, metadata={"description": "why computing failed"})
    position = fields.Integer()
    version = fields.Integer()


class BlockOrderSchema(_Strict):
    block_ids = fields.List(Id(), required=True, validate=validate.Length(max=10_000))


class BlockTypeSchema(ma.Schema):
    name = fields.String()
    description = fields.String()
    version = fields.String()
    accepted_file_extensions = fields.List(fields.String())
    max_files = fields.Integer(allow_none=True)
    data_schema = fields.Dict(metadata={"description": "JSON schema of the block's data"})
