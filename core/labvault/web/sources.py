"""/file-sources: the file sources of this server and their listings."""

from __future__ import annotations

from typing import Any

from labvault.sources import service
from labvault.sources.schemas import (
    EntriesQuerySchema,
    EntriesSchema,
    SourceSchema,
)
from labvault.web.access import require_user
from labvault.web.blueprint import Blueprint
from labvault.web.session import get_session
from labvault.web.state import file_sources

blp = Blueprint("sources", __name__, url_prefix="/file-sources", description="Browsing remote data")


@blp.route("")
@require_user()
@blp.response(200, SourceSchema(many=True))
def list_sources() -> list[dict[str, Any]]:
    """The file sources of this server, with the age of their listings"""
    return service.source_infos(get_session(), file_sources())


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
        get_session(), file_sources(), name, query["path"], query["refresh"], pagination_parameters
    )
