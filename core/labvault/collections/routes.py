"""/collections: named, shareable groups of items."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask.views import MethodView
from flask_smorest import abort

from labvault.auth.access import require_user, signed_in_user
from labvault.collections import service
from labvault.collections.models import Collection
from labvault.collections.schemas import (
    CollectionCreateSchema,
    CollectionPatchSchema,
    CollectionSchema,
)
from labvault.conditional import IF_MATCH_PARAMETER, check_if_match
from labvault.db import get_session
from labvault.items import service as items
from labvault.paging import Blueprint, page_rows

blp = Blueprint("collections", __name__, url_prefix="/collections", description="Collections")


def _response(collection: Collection, status: int = 200) -> Any:
    body = service.to_dict(get_session(), signed_in_user(), collection)
    return body, status, {"ETag": service.etag(collection)}


@blp.route("")
class Collections(MethodView):
    @require_user()
    @blp.response(200, CollectionSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters: Any) -> list[dict[str, Any]]:
        """Collections you own, are shared with (or all, for managers and admins)"""
        session, user = get_session(), signed_in_user()
        query = (
            sa.select(Collection).where(service.readable(user)).order_by(Collection.collection_id)
        )
        page = page_rows(session, query, pagination_parameters)
        return [service.to_dict(session, user, c) for c in page]

    @require_user()
    @blp.arguments(CollectionCreateSchema)
    @blp.response(201, CollectionSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Create a collection, optionally shared (read or write) with other users"""
        return _response(service.create(get_session(), signed_in_user(), data), 201)


@blp.route("/<string:collection_id>")
class OneCollection(MethodView):
    @require_user()
    @blp.response(200, CollectionSchema)
    def get(self, collection_id: str) -> Any:
        """One collection, with its ETag"""
        return _response(service.get_collection(get_session(), signed_in_user(), collection_id))

    @require_user()
    @blp.doc(parameters=[IF_MATCH_PARAMETER])
    @blp.arguments(CollectionPatchSchema)
    @blp.response(200, CollectionSchema)
    def patch(self, data: dict[str, Any], collection_id: str) -> Any:
        """Rename, describe or re-share a collection (If-Match required)"""
        session, user = get_session(), signed_in_user()
        collection = service.get_collection(session, user, collection_id, write=True)
        check_if_match(service.etag(collection))
        if "shares" in data:
            service.require_owner(user, collection, "change who it is shared with")
        return _response(service.update(session, collection, data))

    @require_user()
    @blp.doc(parameters=[IF_MATCH_PARAMETER])
    @blp.response(204)
    def delete(self, collection_id: str) -> None:
        """Delete a collection (If-Match required; owner or admin); its items are kept"""
        session, user = get_session(), signed_in_user()
        collection = service.get_collection(session, user, collection_id, write=True)
        check_if_match(service.etag(collection))
        service.require_owner(user, collection, "delete it")
        service.delete(session, collection)


@blp.route("/<string:collection_id>/items/<string:refcode>")
class CollectionItem(MethodView):
    @require_user()
    @blp.response(204)
    def put(self, collection_id: str, refcode: str) -> None:
        """Add an item you may change to a collection you may change"""
        session, user = get_session(), signed_in_user()
        collection = service.get_collection(session, user, collection_id, write=True)
        item = items.get_item(session, user, refcode, write=True)
        service.add_item(session, collection, item.id)

    @require_user()
    @blp.response(204)
    def delete(self, collection_id: str, refcode: str) -> None:
        """Take an item out of a collection (the item itself stays)"""
        session, user = get_session(), signed_in_user()
        collection = service.get_collection(session, user, collection_id, write=True)
        item = items.get_item(session, user, refcode)
        if not service.remove_item(session, collection, item.id):
            abort(404, message=f"{refcode} is not in collection {collection_id!r}")
