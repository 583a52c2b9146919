"""Lists of items: filtered, sorted and paged (searched: :mod:`labvault.search`); the trash;
an item's graph."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.orm import Session

from labvault.auth.models import User
from labvault.collections import service as collections
from labvault.collections.models import Collection, collection_items
from labvault.items import access
from labvault.items.models import Item, ItemRelationship, item_creators
from labvault.items.service import item_to_dict, user_ref
from labvault.paging import PageRequest, page_rows

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


#: Arguments of a list that filter nothing.
UNFILTERED = frozenset({"q", "sort", "exact"})


def filtered_query(user: User, args: dict[str, Any]) -> sa.Select[Any]:
    """Items the user may read, filtered as asked (without the full-text part)."""
    query = sa.select(Item).where(Item.deleted_at.is_(None), access.readable(user))
    if "type" in args:
        query = query.where(Item.type == args["type"])
    if "status" in args:
        query = query.where(Item.status == args["status"])
    if "barcode" in args:
        query = query.where(Item.barcode == args["barcode"])
    if "cas" in args:
        query = query.where(Item.cas == args["cas"])
    if "creator" in args:
        query = query.where(
            Item.id.in_(
                sa.select(item_creators.c.item_id).where(item_creators.c.user_id == args["creator"])
            )
        )
    if "collection" in args:  # one the user may not see lists nothing, as one that is not
        query = query.where(
            Item.id.in_(
                sa.select(collection_items.c.item_id)
                .join(Collection, Collection.id == collection_items.c.collection_id)
                .where(Collection.collection_id == args["collection"], collections.readable(user))
            )
        )
    return query


def sorted_query(query: sa.Select[Any], sort: str) -> sa.Select[Any]:
    descending = sort.startswith("-")
    column = getattr(Item, sort.lstrip("-"))
    return query.order_by(column.desc() if descending else column.asc(), Item.id.desc())


def list_page(session: Session, user: User, args: dict[str, Any], page: PageRequest) -> list[Item]:
    """A page of the items ``user`` may read, filtered and sorted (newest change first
    unless asked); a search (``q``) is :func:`labvault.search.service.search_page`.

    Totals are counted as :func:`labvault.paging.page_rows` says; a list that filters
    nothing counts the lab-wide items first, from an index (``ix_items_type_deleted_at``):
    every user reads them, and there are usually more than the count needs, so who reads
    each other item is not checked (at 100,000 items, the count on MariaDB takes 0.2 ms
    instead of 13).
    """
    sort = args.get("sort")
    query = sorted_query(
        filtered_query(user, args), "-updated_at" if sort in (None, "relevance") else sort
    )
    lab_wide = (
        None
        if set(args) - UNFILTERED
        else sa.select(Item.id).where(Item.deleted_at.is_(None), access.lab_wide())
    )
    return page_rows(
        session,
        query.options(*SUMMARY_ONLY),
        page,
        exact=args["exact"],
        counted_first=lab_wide,
    )


def trash_page(session: Session, user: User, page: PageRequest) -> list[dict[str, Any]]:
    """Deleted items ``user`` may restore, most recently deleted first."""
    query = (
        sa.select(Item)
        .where(Item.deleted_at.is_not(None), access.writable(user))
        .order_by(Item.deleted_at.desc(), Item.id.desc())
    )
    entries = []
    for item in page_rows(session, query, page):
        deleted_by = session.get(User, item.deleted_by_id) if item.deleted_by_id else None
        entries.append({**item_to_dict(session, item), "deleted_by": user_ref(deleted_by)})
    return entries


def graph(session: Session, user: User, item: Item, depth: int) -> dict[str, Any]:
    """Items reachable through relationships (both directions) within ``depth`` steps."""
    seen: dict[int, Item] = {item.id: item}
    frontier = {item.id}
    for _ in range(depth):
        rows = session.execute(
            sa.select(
                ItemRelationship.item_id, ItemRelationship.target_id, ItemRelationship.relation
            ).where(
                sa.or_(
                    ItemRelationship.item_id.in_(frontier),
                    ItemRelationship.target_id.in_(frontier),
                )
            )
        ).all()
        candidates = {i for row in rows for i in row[:2]} - set(seen)
        visible = (
            {
                i.id: i
                for i in session.scalars(
                    sa.select(Item).where(
                        Item.id.in_(candidates), Item.deleted_at.is_(None), access.readable(user)
                    )
                )
            }
            if candidates
            else {}
        )
        seen.update(visible)
        frontier = set(visible)
        if not frontier:
            break
    # every edge between the items shown, those between two items of the last step too
    edges: set[tuple[int, int, str]] = set()
    if len(seen) > 1:
        ids = list(seen)
        between = session.execute(
            sa.select(
                ItemRelationship.item_id, ItemRelationship.target_id, ItemRelationship.relation
            ).where(ItemRelationship.item_id.in_(ids), ItemRelationship.target_id.in_(ids))
        )
        edges = {(a, b, relation) for a, b, relation in between}
    return {
        "nodes": list(seen.values()),
        "edges": [
            {"source": seen[a].refcode, "target": seen[b].refcode, "relation": rel}
            for a, b, rel in sorted(edges)
        ],
    }
