"""/file-sources (their listings), and /items/<refcode>/files/from-source on the files
blueprint."""

from __future__ import annotations

from typing import Any

from flask import url_for

from labvault.auth.access import require_user, signed_in_user
from labvault.db import get_session
from labvault.files import service as files
from labvault.files.routes import blp as files_blp
from labvault.files.schemas import FileSchema
from labvault.paging import Blueprint
from labvault.sources import service
from labvault.sources.schemas import (
    EntriesQuerySchema,
    EntriesSchema,
    FromSourceSchema,
    SourceSchema,
)

blp = Blueprint("sources", __name__, url_prefix="/file-sources", description="Browsing remote data")


@blp.route("")
@require_user()
@blp.response(200, SourceSchema(many=True))
def list_sources() -> list[dict[str, Any]]:
    """The file sources of this server, with the age of their listings"""
    return service.source_infos(get_session())


@blp.route("/<name>/entries")
@require_user()
@blp.arguments(EntriesQuerySchema, location="query")
@blp.response(200, EntriesSchema)
@blp.paginate(page_size=100, max_page_size=1000)
@blp.alt_response(502, response="DEFAULT_ERROR", description="the source cannot be reached")
def entries(query: dict[str, Any], name: str, pagination_parameters: Any) -> dict[str, Any]:
    """A page of the entries of a folder (folders first, then by name)

    Served from the cached listing; one older than REMOTE_CACHE_MAX_AGE is rebuilt first,
    and refresh=true rebuilds it unless it is younger than REMOTE_CACHE_MIN_AGE.
    """
    return service.folder_page(
        get_session(), name, query["path"], query["refresh"], pagination_parameters
    )


@files_blp.route("/items/<string:refcode>/files/from-source", methods=["POST"])
@require_user()
@files_blp.arguments(FromSourceSchema)
@files_blp.response(201, FileSchema)
@files_blp.alt_response(413, response="DEFAULT_ERROR", description="larger than the server takes")
@files_blp.alt_response(502, response="DEFAULT_ERROR", description="the source cannot be reached")
def attach_from_source(body: dict[str, Any], refcode: str) -> Any:
    """Copy a file from a file source and attach it to the item

    labvault keeps its own copy and records where it came from; reading it later checks
    the original and fetches it again if it changed (a new version of the item).
    """
    session, user = get_session(), signed_in_user()
    stored = service.attach_from_source(session, user, refcode, body["source"], body["path"])
    (answer,) = files.files_to_dicts(session, user, [stored])
    return answer, 201, {"Location": url_for("files.file_metadata", file_id=stored.id)}
