"""Schemas of the backup routes."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields


class SnapshotSchema(ma.Schema):
    snapshot = fields.String(metadata={"description": "the snapshot's id (its time, UTC)"})
    created_at = fields.String(allow_none=True)
    labvault_version = fields.String(allow_none=True)
    revision = fields.String(allow_none=True, metadata={"description": "schema revision"})
    database = fields.String(allow_none=True, metadata={"description": "where it was taken"})
    rows = fields.Integer()
    files = fields.Integer()
    bytes = fields.Integer(metadata={"description": "size of the file contents it holds"})
    encrypted = fields.Boolean()


class RunReportSchema(ma.Schema):
    strategy = fields.String()
    snapshot = fields.String()
    rows = fields.Integer()
    files = fields.Integer()
    bytes = fields.Integer()
    files_uploaded = fields.Integer(metadata={"description": "contents the repository lacked"})
    files_reused = fields.Integer(metadata={"description": "contents it had already"})
    bytes_uploaded = fields.Integer(metadata={"description": "bytes stored (compressed)"})
    chunks_uploaded = fields.Integer(
        metadata={"description": "chunks of the database dump the repository lacked"}
    )
    chunks_reused = fields.Integer(metadata={"description": "chunks of the dump it had already"})
    dump_bytes_uploaded = fields.Integer(
        metadata={"description": "bytes of the dump stored (compressed)"}
    )
    snapshots_removed = fields.List(fields.String(), metadata={"description": "by retention"})
    contents_removed = fields.Integer()
    chunks_removed = fields.Integer(metadata={"description": "by retention"})
    seconds = fields.Float()


class StrategySchema(ma.Schema):
    name = fields.String(metadata={"description": "the strategy's name in BACKUP_STRATEGIES"})
    target = fields.String(metadata={"description": "the type of its target"})
    frequency = fields.String()
    retention = fields.Integer(metadata={"description": "snapshots kept"})
    encrypted = fields.Boolean()
    last_run_at = fields.DateTime(allow_none=True)
    last_success_at = fields.DateTime(allow_none=True)
    last_error = fields.String(allow_none=True)
    last_report = fields.Nested(
        RunReportSchema,
        allow_none=True,
        metadata={"description": "what the last successful run did"},
    )
    running = fields.Boolean(
        metadata={
            "description": "a run holds the strategy's lock now (not a killed one), or the "
            "job of a run the API started has not finished"
        }
    )
    job = fields.Integer(
        allow_none=True,
        metadata={"description": "the unfinished job of a run the API started (GET /jobs/{id})"},
    )
    snapshots = fields.List(fields.Nested(SnapshotSchema), metadata={"description": "oldest first"})
    error = fields.String(
        allow_none=True, metadata={"description": "why the snapshots cannot be listed now"}
    )
