"""/trash: deleted items, restored or (admins) deleted for good."""

from __future__ import annotations

from typing import Any

from labvault.auth.models import Role
from labvault.items import lists, service
from labvault.items.schemas import ItemSchema, TrashEntrySchema
from labvault.web.access import require_user, signed_in_user
from labvault.web.blueprint import Blueprint
from labvault.web.items import item_response
from labvault.web.session import get_session

blp = Blueprint("trash", __name__, url_prefix="/trash", description="Deleted items")


@blp.route("")
@require_user()
@blp.response(200, TrashEntrySchema(many=True))
@blp.paginate()
def trash(pagination_parameters: Any) -> list[dict[str, Any]]:
    """Deleted items you may restore, most recently deleted first"""
    return lists.trash_page(get_session(), signed_in_user(), pagination_parameters)


@blp.route("/<string:refcode>/restore", methods=["POST"])
@require_user()
@blp.response(200, ItemSchema)
def restore_from_trash(refcode: str) -> Any:
    """Bring an item back from the trash, with its blocks and files"""
    session, user = get_session(), signed_in_user()
    item = service.get_item(session, user, refcode, write=True, trashed=True)
    return item_response(service.restore_from_trash(session, user, item))


@blp.route("/<string:refcode>", methods=["DELETE"])
@require_user(Role.ADMIN)
@blp.response(204)
def purge(refcode: str) -> None:
    """Delete an item in the trash for good, with its history (admins only)"""
    session, user = get_session(), signed_in_user()
    item = service.get_item(session, user, refcode, write=True, trashed=True)
    service.purge(session, user, item)
