"""/inventory: importers, running an import, and the imports that were run (managers)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest.fields import Upload
from marshmallow import fields, validate

from labvault.auth.models import Role
from labvault.inventory import service
from labvault.inventory.schemas import ImporterSchema, ImportRunSchema, ReportSchema
from labvault.schemas import Strict
from labvault.web.access import require_user, signed_in_user
from labvault.web.blueprint import Blueprint
from labvault.web.session import get_session
from labvault.web.state import importers


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


blp = Blueprint("inventory", __name__, url_prefix="/inventory", description="Inventory imports")


@blp.route("/importers")
@require_user(Role.MANAGER)
@blp.response(200, ImporterSchema(many=True))
def list_importers() -> list[dict[str, Any]]:
    """The inventory importers of this server (managers and admins)"""
    return service.importer_infos(importers())


@blp.route("/imports")
class Imports(MethodView):
    @require_user(Role.MANAGER)
    @blp.response(200, ImportRunSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters: Any) -> list[dict[str, Any]]:
        """The imports that were run, newest first, with who ran them and their report"""
        return service.imports_page(get_session(), pagination_parameters)

    @require_user(Role.MANAGER)
    @blp.arguments(ImportRequestSchema, location="files")
    @blp.response(201, ReportSchema, description="imported")
    @blp.alt_response(200, schema=ReportSchema, description="a dry run: what it would do")
    def post(self, body: dict[str, Any]) -> Any:
        """Import an inventory export (multipart/form-data; managers and admins)

        Containers become starting materials, matched by the importer and the record's
        id on every later import: new ones are created, changed ones updated (a
        version), unchanged ones left alone, missing ones reported. All or nothing.
        """
        upload = body["file"]
        upload.stream.seek(0)
        report = service.import_file(
            get_session(),
            importers(),
            signed_in_user(),
            body["importer"],
            upload.stream,
            upload.filename or "export",
            dry_run=body["dry_run"],
            mark_missing=body["mark_missing"],
        )
        return report, 200 if body["dry_run"] else 201
