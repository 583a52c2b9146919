"""/items/<refcode>/files (list, upload, copy from a file source, detach) and /files/<id>
(metadata, content)."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, redirect, url_for
from flask.views import MethodView
from flask_smorest.fields import Upload

from labvault.blocks import service as blocks
from labvault.errors import ServerFault
from labvault.files import service
from labvault.files.models import StoredFile
from labvault.files.schemas import FileSchema
from labvault.items import service as items
from labvault.plugin import ContentMissing
from labvault.schemas import Strict
from labvault.sources import service as sources
from labvault.sources.schemas import FromSourceSchema
from labvault.web.access import require_user, signed_in_user
from labvault.web.blueprint import Blueprint
from labvault.web.download import send_stored_file
from labvault.web.session import get_session
from labvault.web.state import file_sources, file_store, settings
from labvault.web.uploads import streams_into_store


class UploadSchema(Strict):
    """The multipart/form-data body of an upload (Swagger UI shows a file picker)."""

    file = Upload(
        required=True,
        # minLength: an empty file is refused (there is nothing to store)
        metadata={"description": "the file; its name is kept without directories", "minLength": 1},
    )


blp = Blueprint("files", __name__, description="Files attached to items")


def content_url(file_id: int) -> str:
    return url_for("files.file_content", file_id=file_id)


def _created(session: Any, user: Any, stored: StoredFile) -> Any:
    """The answer to a file attached: the file, 201, where its metadata is."""
    (body,) = service.files_to_dicts(session, user, [stored], content_url)
    return body, 201, {"Location": url_for("files.file_metadata", file_id=stored.id)}


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
@streams_into_store
class ItemFiles(MethodView):
    @require_user()
    @blp.response(200, FileSchema(many=True))
    @blp.paginate()
    def get(self, refcode: str, pagination_parameters: Any) -> list[dict[str, Any]]:
        """The files attached to the item, oldest first"""
        session, user = get_session(), signed_in_user()
        item = items.get_item(session, user, refcode)
        return service.item_files_page(session, user, item, pagination_parameters, content_url)

    @require_user()
    @blp.arguments(UploadSchema, location="files")
    @blp.response(201, FileSchema)
    @blp.alt_response(413, response="DEFAULT_ERROR", description="larger than the server takes")
    def post(self, files: dict[str, Any], refcode: str) -> Any:
        """Upload a file (multipart/form-data, field file) and attach it to the item

        Identical content is stored once. The item gets a new version.
        """
        session, user, upload = get_session(), signed_in_user(), files["file"]
        stored = service.attach_upload(
            session,
            file_store(),
            user,
            refcode,
            upload.stream,
            upload.filename or "",
            max_size=settings()["MAX_CONTENT_LENGTH"],
        )
        return _created(session, user, stored)


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
    stored = service.get_readable_file(session, user, file_id)
    (body,) = service.files_to_dicts(session, user, [stored], content_url)
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
def file_content(file_id: int) -> Any:
    """Download a file (an attachment; ETag, Range and If-None-Match work)"""
    session, user = get_session(), signed_in_user()
    stored = service.get_readable_file(session, user, file_id)
    copy = sources.check_copy(session, file_sources(), stored)
    if copy.replaced_by is not None:  # its original changed: a newer copy took its place
        return redirect(content_url(copy.replaced_by.id), 307)
    try:
        response: Response = send_stored_file(
            file_store(),
            stored.sha256,
            name=stored.name,
            media_type=stored.media_type,
            size=stored.size,
        )
    except ContentMissing as exc:
        current_app.logger.error("file %s: %s", file_id, exc)
        raise ServerFault(f"the content of file {file_id} is missing from the file store") from None
    response.headers.update(copy.headers)
    return response


@blp.route("/items/<string:refcode>/files/<int:file_id>", methods=["DELETE"])
@require_user()
@blp.response(204)
@blp.alt_response(409, response="DEFAULT_ERROR", description="a block uses the file")
def detach(refcode: str, file_id: int) -> None:
    """Detach a file from the item; versions that list it still serve it

    409 while a block of the item uses the file: change the block first.
    """
    session, user = get_session(), signed_in_user()
    item = items.get_item(session, user, refcode, write=True)
    blocks.detach_file(session, user, item, file_id)


@blp.route("/items/<string:refcode>/files/from-source", methods=["POST"])
@require_user()
@blp.arguments(FromSourceSchema)
@blp.response(201, FileSchema)
@blp.alt_response(413, response="DEFAULT_ERROR", description="larger than the server takes")
@blp.alt_response(502, response="DEFAULT_ERROR", description="the source cannot be reached")
def attach_from_source(body: dict[str, Any], refcode: str) -> Any:
    """Copy a file from a file source and attach it to the item

    labvault keeps its own copy and records where it came from; reading it later checks
    the original and fetches it again if it changed (a new version of the item).
    """
    session, user = get_session(), signed_in_user()
    stored = sources.attach_from_source(
        session, file_sources(), user, refcode, body["source"], body["path"]
    )
    return _created(session, user, stored)
