"""/items/<refcode>/files (upload, list, unlink) and /files/<id> (metadata, content)."""

from __future__ import annotations

from typing import Any

from flask import Response, url_for
from flask.views import MethodView

from labvault.auth.access import require_user, signed_in_user
from labvault.db import get_session
from labvault.files import service
from labvault.files.schemas import FileSchema, UploadSchema
from labvault.items import service as items
from labvault.paging import Blueprint

blp = Blueprint("files", __name__, description="Files attached to items")
# Detaching a file (DELETE /items/<refcode>/files/<id>) needs the item's blocks: it is
# served by labvault.blocks.routes on this blueprint.

BINARY = {"type": "string", "format": "binary"}
#: Content is served as the media type it was stored with (active types as octet-stream).
ANY_MEDIA_TYPE = "*/*"
CONTENT_PARAMETERS: list[dict[str, Any]] = [
    {
        "in": "header",
        "name": "Range",
        "required": False,
        "schema": {"type": "string"},
        "description": "one byte range, e.g. bytes=0-1023: answered with 206 (416 if it "
        "starts beyond the end); any other Range is ignored",
    },
    {
        "in": "header",
        "name": "If-None-Match",
        "required": False,
        "schema": {"type": "string"},
        "description": "the ETag (sha256) of your copy: 304 if it is still the content",
    },
]


@blp.route("/items/<string:refcode>/files")
class ItemFiles(MethodView):
    @require_user()
    @blp.response(200, FileSchema(many=True))
    @blp.paginate()
    def get(self, refcode: str, pagination_parameters: Any) -> list[dict[str, Any]]:
        """The files attached to the item, oldest first"""
        session, user = get_session(), signed_in_user()
        item = items.get_item(session, user, refcode)
        return service.item_files_page(session, user, item, pagination_parameters)

    @require_user()
    @blp.arguments(UploadSchema, location="files")
    @blp.response(201, FileSchema)
    @blp.alt_response(413, response="DEFAULT_ERROR", description="larger than the server takes")
    def post(self, files: dict[str, Any], refcode: str) -> Any:
        """Upload a file (multipart/form-data, field file) and attach it to the item

        Identical content is stored once. The item gets a new version.
        """
        session, user = get_session(), signed_in_user()
        stored = service.attach_upload(session, user, refcode, files["file"])
        (body,) = service.files_to_dicts(session, user, [stored])
        return body, 201, {"Location": url_for("files.file_metadata", file_id=stored.id)}


@blp.route("/files/<int:file_id>")
@require_user()
@blp.response(200, FileSchema)
def file_metadata(file_id: int) -> dict[str, Any]:
    """A file's name, size, sha256, media type, origin, uploader and upload time

    You may read a file while you may read an item it is attached to or an item one
    of whose versions lists it; files of items in the trash only if you may restore
    the item. Any other file is 404.
    """
    session, user = get_session(), signed_in_user()
    (body,) = service.files_to_dicts(
        session, user, [service.get_readable_file(session, user, file_id)]
    )
    return body


@blp.route("/files/<int:file_id>/content")
@require_user()
@blp.doc(parameters=CONTENT_PARAMETERS)
@blp.response(200, BINARY, content_type=ANY_MEDIA_TYPE, description="the content")
@blp.alt_response(
    206,
    schema=BINARY,
    content_type=ANY_MEDIA_TYPE,
    description="the requested byte range",
    success=True,
)
@blp.alt_response(304, description="your copy (If-None-Match) is current", success=True)
@blp.alt_response(416, response="DEFAULT_ERROR", description="the range is outside the file")
def file_content(file_id: int) -> Response:
    """Download a file (an attachment; ETag, Range and If-None-Match work)"""
    return service.send_content(get_session(), signed_in_user(), file_id)
