"""/items (records, their graph and versions) and /trash."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
import sqlalchemy as sa
from flask import current_app
from flask.views import MethodView
from flask_smorest import abort
from sqlalchemy import orm

from labvault.auth.access import require_user, signed_in_user
from labvault.collections.models import Collection
from labvault.collections.service import readable as readable_collection
from labvault.conditional import IF_MATCH_PARAMETER, check_if_match
from labvault.db import get_session
from labvault.items import access, search, service
from labvault.items.models import Item, ItemVersion
from labvault.items.schemas import (
    GraphArgsSchema,
    GraphSchema,
    ItemCreateSchema,
    ItemListArgsSchema,
    ItemPatchSchema,
    ItemSchema,
    ItemSummarySchema,
    TrashEntrySchema,
    VersionDetailSchema,
    VersionSchema,
)
from labvault.items.search import apply_search, order_by_relevance
from labvault.paging import Blueprint, page_of, page_rows
from labvault.users.models import Role, User

blp = Blueprint("items", __name__, url_prefix="/items", description="Lab records")
trash_blp = Blueprint("trash", __name__, url_prefix="/trash", description="Deleted items")

#: A page of the list shows ItemSummarySchema: load those columns, not the relationships,
#: creators, fields and texts of every item on it.
SUMMARY_ONLY = (
    orm.load_only(
        Item.refcode,
        Item.item_id,
        Item.type,
        Item.name,
        Item.status,
        Item.date,
        Item.created_at,
        Item.updated_at,
        Item.version,
    ),
    orm.lazyload(Item.creators),
    orm.lazyload(Item.relationships),
)


def _item_response(item: Item, status: int = 200) -> Any:
    session = get_session()
    return (
        service.item_to_dict(session, item, signed_in_user()),
        status,
        {"ETag": service.etag(item)},
    )


@blp.route("")
class Items(MethodView):
    @require_user()
    @blp.arguments(ItemListArgsSchema, location="query", unknown=ma.RAISE)
    @blp.response(200, ItemSummarySchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> list[Item]:
        """Items you may read: filter, search (q), sort and page through them

        A search ranks the newest 1,000 items it matches (all of them with exact=true).
        X-Pagination's total is exact while fewer than 1,000 items follow the start of the
        page; beyond, it is a lower bound and total_exact is false (exact=true counts all).
        """
        session = get_session()
        query = service.list_query(signed_in_user(), args)
        sort, exact = args.get("sort"), args["exact"]
        if "q" in args:
            prefix = current_app.extensions["labvault"].settings["IDENTIFIER_PREFIX"]
            query, relevance = apply_search(session, query, args["q"], identifier_prefix=prefix)
            if sort in (None, "relevance") and not exact:
                window = search.SEARCH_WINDOW
                ranked = search.newest_ranked(session, query, relevance, window)
                ids = page_of(ranked, pagination_parameters, window=window)
                page = sa.select(Item).where(Item.id.in_(ids)).options(*SUMMARY_ONLY)
                return sorted(session.scalars(page), key=lambda item: ids.index(item.id))
            if sort in (None, "relevance"):
                query = order_by_relevance(query, relevance)
        elif sort == "relevance":
            abort(422, errors={"query": {"sort": ["relevance needs q"]}})
        if sort not in (None, "relevance") or "q" not in args:
            query = service.sorted_query(query, sort or "-updated_at")
        return page_rows(session, query.options(*SUMMARY_ONLY), pagination_parameters, exact=exact)

    @require_user()
    @blp.arguments(ItemCreateSchema)
    @blp.response(201, ItemSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Create an item: send its type and fields; the answer carries its ETag"""
        prefix = current_app.extensions["labvault"].settings["IDENTIFIER_PREFIX"]
        item = service.create_item(get_session(), signed_in_user(), data, prefix)
        return _item_response(item, 201)


@blp.route("/<string:refcode>")
class OneItem(MethodView):
    @require_user()
    @blp.response(200, ItemSchema)
    def get(self, refcode: str) -> Any:
        """One item, with its ETag"""
        return _item_response(service.get_item(get_session(), signed_in_user(), refcode))

    @require_user()
    @blp.doc(parameters=[IF_MATCH_PARAMETER])
    @blp.arguments(ItemPatchSchema)
    @blp.response(200, ItemSchema)
    def patch(self, body: dict[str, Any], refcode: str) -> Any:
        """Change fields of an item (If-Match required); a new version is kept"""
        session, user = get_session(), signed_in_user()
        item = service.get_item(session, user, refcode, write=True)
        check_if_match(service.etag(item))
        return _item_response(service.update_item(session, user, item, body))

    @require_user()
    @blp.doc(parameters=[IF_MATCH_PARAMETER])
    @blp.response(204)
    def delete(self, refcode: str) -> None:
        """Move an item to the trash (If-Match required); restore it from /trash"""
        session, user = get_session(), signed_in_user()
        item = service.get_item(session, user, refcode, write=True)
        check_if_match(service.etag(item))
        service.trash_item(session, user, item)


@blp.route("/by-item-id/<string:item_id>")
@require_user()
@blp.response(200, ItemSchema)
def by_item_id(item_id: str) -> Any:
    """One item, found by its item_id"""
    session, user = get_session(), signed_in_user()
    # only among items the caller may read: the 404 must not name another item's refcode
    refcode = session.scalar(
        sa.select(Item.refcode).where(
            Item.item_id == item_id, Item.deleted_at.is_(None), access.readable(user)
        )
    )
    if refcode is None:
        abort(404, message=f"no item with item_id {item_id!r}")
    assert refcode is not None
    return _item_response(service.get_item(session, user, refcode))


@blp.route("/<string:refcode>/graph")
@require_user()
@blp.arguments(GraphArgsSchema, location="query", unknown=ma.RAISE)
@blp.response(200, GraphSchema)
def item_graph(args: dict[str, Any], refcode: str) -> Any:
    """The item and those related to it, up to depth steps away"""
    session, user = get_session(), signed_in_user()
    item = service.get_item(session, user, refcode)
    return service.graph(session, user, item, args["depth"])


@blp.route("/<string:refcode>/versions")
@require_user()
@blp.response(200, VersionSchema(many=True))
@blp.paginate()
def versions(refcode: str, pagination_parameters: Any) -> list[dict[str, Any]]:
    """Every stored version of the item, newest first"""
    session = get_session()
    item = service.get_item(session, signed_in_user(), refcode)
    query = (
        sa.select(ItemVersion)
        .where(ItemVersion.item_id == item.id)
        .order_by(ItemVersion.number.desc())
    )
    return [_version(v) for v in page_rows(get_session(), query, pagination_parameters)]


def _version(version: ItemVersion) -> dict[str, Any]:
    return {
        "number": version.number,
        "action": version.action,
        "user": service.user_ref(version.user),
        "created_at": version.created_at,
    }


def _as_seen_by(user: User, snapshot: dict[str, Any]) -> dict[str, Any]:
    """The snapshot with links and collections only ``user`` may read now, as items show them."""
    session = get_session()
    visible = set(
        session.scalars(
            sa.select(Collection.collection_id).where(
                Collection.collection_id.in_(snapshot.get("collections") or []),
                readable_collection(user),
            )
        )
    )
    snapshot = {
        **snapshot,
        "collections": [c for c in snapshot.get("collections") or [] if c in visible],
    }
    links = snapshot.get("relationships") or []
    if not links:
        return snapshot
    readable = set(
        get_session().scalars(
            sa.select(Item.refcode).where(
                Item.refcode.in_({link["refcode"] for link in links}),
                Item.deleted_at.is_(None),
                access.readable(user),
            )
        )
    )
    return {**snapshot, "relationships": [r for r in links if r["refcode"] in readable]}


@blp.route("/<string:refcode>/versions/<int:number>")
@require_user()
@blp.response(200, VersionDetailSchema)
def version(refcode: str, number: int) -> dict[str, Any]:
    """One version: the item with its blocks and files as they were"""
    session, user = get_session(), signed_in_user()
    found = service.get_version(session, service.get_item(session, user, refcode), number)
    return {**_version(found), "snapshot": _as_seen_by(user, found.snapshot)}


@blp.route("/<string:refcode>/versions/<int:number>/restore", methods=["POST"])
@require_user()
@blp.doc(parameters=[IF_MATCH_PARAMETER])
@blp.response(200, ItemSchema)
def restore_version(refcode: str, number: int) -> Any:
    """Make the item as it was in that version (If-Match required); kept as a new version"""
    session, user = get_session(), signed_in_user()
    item = service.get_item(session, user, refcode, write=True)
    check_if_match(service.etag(item))
    return _item_response(service.restore_version(session, user, item, number))


@trash_blp.route("")
@require_user()
@trash_blp.response(200, TrashEntrySchema(many=True))
@trash_blp.paginate()
def trash(pagination_parameters: Any) -> list[dict[str, Any]]:
    """Deleted items you may restore, most recently deleted first"""
    user = signed_in_user()
    query = (
        sa.select(Item)
        .where(Item.deleted_at.is_not(None), access.writable(user))
        .order_by(Item.deleted_at.desc(), Item.id.desc())
    )
    session = get_session()
    entries = []
    for item in page_rows(session, query, pagination_parameters):
        deleted_by = session.get(User, item.deleted_by_id) if item.deleted_by_id else None
        entries.append(
            {**service.item_to_dict(session, item), "deleted_by": service.user_ref(deleted_by)}
        )
    return entries


@trash_blp.route("/<string:refcode>/restore", methods=["POST"])
@require_user()
@trash_blp.response(200, ItemSchema)
def restore_from_trash(refcode: str) -> Any:
    """Bring an item back from the trash, with its blocks and files"""
    session, user = get_session(), signed_in_user()
    item = service.get_item(session, user, refcode, write=True, trashed=True)
    return _item_response(service.restore_from_trash(session, user, item))


@trash_blp.route("/<string:refcode>", methods=["DELETE"])
@require_user(Role.ADMIN)
@trash_blp.response(204)
def purge(refcode: str) -> None:
    """Delete an item in the trash for good, with its history (admins only)"""
    session, user = get_session(), signed_in_user()
    service.purge(session, service.get_item(session, user, refcode, write=True, trashed=True))
