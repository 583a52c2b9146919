"""Schemas of the inventory routes."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest.fields import Upload
from marshmallow import fields, validate

from labvault.schemas import Strict, UserRefSchema


class ImporterSchema(ma.Schema):
    name = fields.String(metadata={"description": "instance name from INVENTORY_IMPORTERS"})
    type = fields.String()
    description = fields.String()
    accepted_file_extensions = fields.List(fields.String())


class ImportRequestSchema(Strict):
    """The multipart/form-data body of an import."""

    file = Upload(required=True, metadata={"description": "the inventory export"})
    importer = fields.String(
        required=True,
        validate=validate.Length(min=1, max=40),
        metadata={"description": "instance name from INVENTORY_IMPORTERS"},
    )
    dry_run = fields.Boolean(
        load_default=False, metadata={"description": "report what would happen; write nothing"}
    )
    mark_missing = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=40),
        metadata={"description": "the status to give items the export no longer has"},
    )


class RejectedRowSchema(ma.Schema):
    row = fields.Integer()
    column = fields.String(allow_none=True)
    reason = fields.String()


class WarningSchema(ma.Schema):
    row = fields.Integer()
    warning = fields.String()


class ReportSchema(ma.Schema):
    importer = fields.String()
    filename = fields.String()
    dry_run = fields.Boolean()
    counts = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "created, updated, unchanged, missing, rejected"},
    )
    rejected = fields.List(fields.Nested(RejectedRowSchema), metadata={"description": "first 1000"})
    warnings = fields.List(fields.Nested(WarningSchema), metadata={"description": "first 1000"})
    missing = fields.List(
        fields.String(), metadata={"description": "refcodes of items the export no longer has"}
    )


class ImportRunSchema(ma.Schema):
    id = fields.Integer()
    importer = fields.String()
    filename = fields.String()
    user = fields.Nested(UserRefSchema, allow_none=True)
    created_at = fields.DateTime()
    report = fields.Nested(ReportSchema)
