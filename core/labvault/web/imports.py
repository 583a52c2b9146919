"""/imports: an archive of another lab system (or a labvault export) imported as items,
by a format an enabled plugin provides (.eln, ...)."""

from __future__ import annotations

from typing import Any

from flask_smorest.fields import Upload
from marshmallow import fields, validate

from labvault.interchange.imports import Importer
from labvault.schemas import Strict
from labvault.web.access import require_user, signed_in_user
from labvault.web.blueprint import Blueprint
from labvault.web.session import get_session
from labvault.web.state import file_store, state

blp = Blueprint(
    "imports",
    __name__,
    url_prefix="/imports",
    description="Archives of other lab systems (.eln, ...) imported as items",
)


class ImportRequestSchema(Strict):
    """The multipart/form-data body of an import."""

    file = Upload(required=True, metadata={"description": "the archive (e.g. an .eln file)"})
    format = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=40),
        metadata={"description": "format name (default: the one of the file's extension)"},
    )
    dry_run = fields.Boolean(
        load_default=False, metadata={"description": "report what would happen; write nothing"}
    )


class ImportedFileSchema(Strict):
    name = fields.String()
    sha256 = fields.String()
    size = fields.Integer()


class ImportedItemSchema(Strict):
    key = fields.String(metadata={"description": "the record's id in the archive (@id)"})
    state = fields.String(
        validate=validate.OneOf(["created", "new", "existing"]),
        metadata={"description": "created; new (a dry run's); existing: imported before"},
    )
    refcode = fields.String(allow_none=True)
    type = fields.String()
    name = fields.String()
    files = fields.List(fields.Nested(ImportedFileSchema), metadata={"description": "checked"})
    blocks = fields.Integer()
    links = fields.Integer()
    unmapped = fields.List(
        fields.String(),
        metadata={"description": "what could not be mapped, kept in imported-metadata.json"},
    )


class ImportedPersonSchema(Strict):
    key = fields.String()
    name = fields.String()
    user_id = fields.Integer(
        allow_none=True,
        metadata={"description": "the account matched (by a researcher id or email)"},
    )


class ImportReportSchema(Strict):
    format = fields.String()
    archive = fields.String()
    exporter = fields.String(metadata={"description": "the software that wrote the archive"})
    dry_run = fields.Boolean()
    created = fields.Integer()
    existing = fields.Integer()
    items = fields.List(fields.Nested(ImportedItemSchema))
    people = fields.List(fields.Nested(ImportedPersonSchema))
    notes = fields.List(
        fields.String(), metadata={"description": "what was read but not imported, and why"}
    )


@blp.route("", methods=["POST"])
@require_user()
@blp.arguments(ImportRequestSchema, location="files")
@blp.response(201, ImportReportSchema, description="imported")
@blp.alt_response(200, schema=ImportReportSchema, description="a dry run: what it would do")
def post_import(body: dict[str, Any]) -> Any:
    """Import an archive as items of the signed-in user (multipart/form-data)

    Each record (an .eln Dataset) becomes an item of the closest type, with its files
    (checksums verified), links between records, authors matched to accounts by researcher
    iD or email, and what could not be mapped kept as the item's metadata. All or
    nothing; an archive imported before makes no second item of a record.
    """
    upload = body["file"]
    upload.stream.seek(0)
    report = Importer.of(state(), file_store()).run(
        get_session(),
        signed_in_user(),
        upload.stream,
        upload.filename or "archive",
        format_name=body["format"],
        dry_run=body["dry_run"],
    )
    return report, 200 if body["dry_run"] else 201
