"""Schemas of inventory imports (an import's request body: :mod:`labvault.web.inventory`)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from labvault.schemas import UserRefSchema


class ImporterSchema(ma.Schema):
    name = fields.String(metadata={"description": "instance name from INVENTORY_IMPORTERS"})
    type = fields.String()
    description = fields.String()
    accepted_file_extensions = fields.List(fields.String())


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
