"""/collections: named, shareable groups of items, and putting items into them
(``/collections/<id>/items/<refcode>``: a change of the item, made by
:mod:`labvault.items.links`)."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask.views import MethodView

from labvault.collections import service
from labvault.collections.models import Collection
from labvault.collections.schemas import (
    CollectionCreateSchema,
    CollectionPatchSchema,
    CollectionSchema,
)
from labvault.items import links
from labvault.items import service as items
from labvault.web.access import require_user, signed_in_user
from labvault.web.blueprint import Blueprint
from labvault.web.conditional import IF_MATCH_PARAMETER, check_if_match
from labvault.web.session import get_session

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
        return service.list_page(get_session(), signed_in_user(), pagination_parameters)

    @require_user()
    @blp.arguments(CollectionCreateSchema)
    @blp.response(201, CollectionSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Create a collection, optionally shared (read or write) with other users"""
        collection = service.create(get_session(), signed_in_user(), data)
        body, status, headers = _response(collection, 201)
        where = url_for("collections.OneCollection", collection_id=collection.collection_id)
        return body, status, {**headers, "Location": where}


@blp.route("/<string:collection_id>")
class OneCollection(MethodView):
    @require_user()
    @blp.response(200, CollectionSchema)
    def get(self, collection_id: str) -> Any:
        """One collection, with its ETag"""
        return _response(service.get_collection(get_session(), signed_in_user(), collection_id))

    @require_user()
    @blp.doc(parameters=[IF_MATCH_PARAMETER])
    @blp.arguments(CollectionPatchSchema, required=False)  # no body: nothing to change
    @blp.response(200, CollectionSchema)
    def patch(self, data: dict[str, Any], collection_id: str) -> Any:
        """Rename, describe or re-share a collection (If-Match required)"""
        session, user = get_session(), signed_in_user()
        collection = service.get_collection(session, user, collection_id, write=True)
        check_if_match(service.etag(collection))
        return _response(service.update(session, user, collection, data))

    @require_user()
    @blp.doc(parameters=[IF_MATCH_PARAMETER])
    @blp.response(204)
    def delete(self, collection_id: str) -> None:
        """Delete a collection (If-Match required; owner or admin); its items are kept"""
        session, user = get_session(), signed_in_user()
        collection = service.get_collection(session, user, collection_id, write=True)
        check_if_match(service.etag(collection))
        service.delete(session, user, collection)


@blp.route("/<string:collection_id>/items/<string:refcode>")
class CollectionItem(MethodView):
    @require_user()
    @blp.response(204)
    def put(self, collection_id: str, refcode: str) -> None:
        """Add an item you may change to a collection you may change"""
        session, user = get_session(), signed_in_user()
        collection = service.get_collection(session, user, collection_id, write=True)
        item = items.get_item(session, user, refcode, write=True)
        links.add_to_collection(session, collection, item)

    @require_user()
    @blp.response(204)
    def delete(self, collection_id: str, refcode: str) -> None:
        """Take an item out of a collection (the item itself stays)"""
        session, user = get_session(), signed_in_user()
        collection = service.get_collection(session, user, collection_id, write=True)
        item = items.get_item(session, user, refcode)
        links.remove_from_collection(session, collection, item)
