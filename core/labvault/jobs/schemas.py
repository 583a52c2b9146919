"""The schema of ``GET /jobs/<id>``."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from labvault.jobs.models import JobState


class JobSchema(ma.Schema):
    id = fields.Integer()
    type = fields.String(metadata={"description": "the job type, e.g. backup"})
    key = fields.String(
        allow_none=True,
        metadata={"description": "its idempotency key: one unfinished job of a type has it"},
    )
    state = fields.String(validate=validate.OneOf([state.value for state in JobState]))
    payload = fields.Dict(metadata={"description": "what its type was asked to do"})
    user_id = fields.Integer(allow_none=True, metadata={"description": "who asked for it"})
    attempts = fields.Integer(metadata={"description": "attempts started so far"})
    max_attempts = fields.Integer()
    run_after = fields.DateTime(
        allow_none=True, metadata={"description": "a queued job waits for this time (a retry)"}
    )
    result = fields.Dict(allow_none=True, metadata={"description": "what it did, once succeeded"})
    error = fields.String(
        allow_none=True,
        metadata={"description": "why it failed, or why its last attempt did (it waits to retry)"},
    )
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
