"""/items/<refcode>/versions: an item's history, each version shown or restored.

Its blueprint is nested in the items' (:mod:`labvault.web`), so its routes are
documented under the items' tag.
"""

from __future__ import annotations

from typing import Any

from labvault.items import service as items
from labvault.items.schemas import ItemSchema, VersionDetailSchema, VersionSchema
from labvault.versions import service as versioning
from labvault.web.access import require_user, signed_in_user
from labvault.web.blueprint import Blueprint
from labvault.web.conditional import IF_MATCH_PARAMETER, check_if_match
from labvault.web.items import item_response
from labvault.web.session import get_session

blp = Blueprint(
    "versions", __name__, url_prefix="/<string:refcode>/versions", description="Item versions"
)


@blp.route("")
@require_user()
@blp.response(200, VersionSchema(many=True))
@blp.paginate()
def versions(refcode: str, pagination_parameters: Any) -> list[dict[str, Any]]:
    """Every stored version of the item, newest first"""
    session = get_session()
    item = items.get_item(session, signed_in_user(), refcode)
    return versioning.versions_page(session, item, pagination_parameters)


@blp.route("/<int:number>")
@require_user()
@blp.response(200, VersionDetailSchema)
def version(refcode: str, number: int) -> dict[str, Any]:
    """One version: the item with its blocks and files as they were"""
    session, user = get_session(), signed_in_user()
    return versioning.version_detail(session, user, items.get_item(session, user, refcode), number)


@blp.route("/<int:number>/restore", methods=["POST"])
@require_user()
@blp.doc(parameters=[IF_MATCH_PARAMETER])
@blp.response(200, ItemSchema)
def restore_version(refcode: str, number: int) -> Any:
    """Make the item as it was in that version (If-Match required); kept as a new version"""
    session, user = get_session(), signed_in_user()
    item = items.get_item(session, user, refcode, write=True)
    check_if_match(items.etag(item))
    return item_response(versioning.restore_version(session, user, item, number))
