"""Lists of items: filtered, sorted and paged (searched: :mod:`labvault.search`); the trash;
an item's graph."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.orm import Session

from labvault.auth.models import Role, User
from labvault.collections import service as collections
from labvault.collections.models import Collection, collection_items
from labvault.errors import Invalid
from labvault.items import access, field_values, types
from labvault.items.models import Item, ItemRelationship, item_creators
from labvault.items.service import item_to_dict, user_ref
from labvault.paging import COUNT_LIMIT, PageRequest, PageStatements, page_rows

_items = Item.__table__
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
#: Arguments of a list that filter it (and ``field_filters``, a type's fields).
FILTERS = ("type", "status", "creator", "collection")
#: A filter on a type's field: (field, operator, value); its value is bound as ``field_N``.
FieldFilter = tuple[str, str, Any]
#: A list filtered by fields whose every filter matches at least this many values reads
#: its items in order and checks each one's fields, stopping after its page; one with a
#: filter matching fewer reads that filter's matches and sorts them (see list_page).
WALK_FROM = COUNT_LIMIT


def _conditions(
    user: User,
    values: Mapping[str, Any],
    field_filters: tuple[FieldFilter, ...] = (),
    *,
    item_by_item: bool = False,
) -> list[sa.ColumnElement[bool]]:
    """What an item must meet to be listed: readable by ``user``, not in the trash, and
    the filters ``values`` holds (values, or bind parameters given when the list runs)
    and ``field_filters`` (their values as they are, when ``values`` are); those checked
    ``item_by_item`` (:func:`labvault.items.field_values.met_by_item`) or not."""
    conditions = [Item.deleted_at.is_(None), access.readable(user)]
    if "type" in values:
        conditions.append(Item.type == values["type"])
    condition = field_values.met_by_item if item_by_item else field_values.matching
    for number, (name, operator, value) in enumerate(field_filters):
        bound = values.get(f"field_{number}", value)
        conditions.append(condition(_filterable(name), operator, bound))
    if "status" in values:
        conditions.append(Item.status == values["status"])
    if "creator" in values:
        conditions.append(
            Item.id.in_(
                sa.select(item_creators.c.item_id).where(
                    item_creators.c.user_id == values["creator"]
                )
            )
        )
    if "collection" in values:  # one the user may not see lists nothing, as one that is not
        conditions.append(
            Item.id.in_(
                sa.select(collection_items.c.item_id)
                .join(Collection, Collection.id == collection_items.c.collection_id)
                .where(Collection.collection_id == values["collection"], collections.readable(user))
            )
        )
    return conditions


def filtered_query(user: User, args: dict[str, Any]) -> sa.Select[Any]:
    """Items the user may read, filtered as asked (without the full-text part)."""
    return sa.select(Item).where(*_conditions(user, args, args.get("field_filters", ())))


def _order(sort: str) -> list[sa.UnaryExpression[Any]]:
    descending = sort.startswith("-")
    column = _items.c[sort.lstrip("-")]
    return [column.desc() if descending else column.asc(), _items.c.id.desc()]


def sorted_query(query: sa.Select[Any], sort: str) -> sa.Select[Any]:
    return query.order_by(*_order(sort))


def _filterable(field: str) -> field_values.Filterable:
    """The filterable field ``field`` (of one item type or several: one kind in all)."""
    return types.current().filterable[field]


def sorted_by_field(query: sa.Select[Any], field: str, descending: bool) -> sa.Select[Any]:
    """``query`` sorted by a filterable field of the item types."""
    return field_values.sorted_by(query, _filterable(field), descending=descending)


#: What a page of the list shows (ItemSummarySchema), read as plain rows: an ORM entity
#: per item would cost more than its row.
_SUMMARY_COLUMNS = [
    _items.c[name]
    for name in (
        *("id", "refcode", "item_id", "type", "name", "date", "status", "created_at"),
        *("updated_at", "version"),
    )
]
#: The statements of each kind of list (who lists, which filters, which order), built
#: once per process: building them costs more than running them for a page.
_LISTS: dict[tuple[Any, ...], PageStatements] = {}
_MAX_LISTS = 1024


def _list_statements(
    user: User,
    filters: frozenset[str],
    sort: str | tuple[str, bool],
    field_filters: tuple[tuple[str, str], ...],
    walked: bool,
) -> PageStatements:
    """The statements of a kind of list; ``sort`` is a column's (``-updated_at``) or a
    type's field's (field, descending); ``field_filters`` (field, operator), checked item
    by item in the page if ``walked``."""
    catalogue = types.current()
    key = (
        user.id,
        user.has_role(Role.MANAGER),
        filters,
        sort,
        field_filters,
        walked,
        catalogue.lab_wide,
    )
    statements = _LISTS.get(key)
    if statements is None:
        # the filters' values are bound when a page runs
        values: dict[str, Any] = {name: sa.bindparam(name) for name in filters}
        for number in range(len(field_filters)):
            values[f"field_{number}"] = sa.bindparam(f"field_{number}")
        filtered = tuple((name, operator, None) for name, operator in field_filters)

        def ordered(item_by_item: bool) -> sa.Select[Any]:
            conditions = _conditions(user, values, filtered, item_by_item=item_by_item)
            query = sa.select(*_SUMMARY_COLUMNS).where(*conditions)
            if isinstance(sort, tuple):
                return sorted_by_field(query, *sort)
            return query.order_by(*_order(sort))

        query = ordered(walked)
        # counted with the set of matches even when walked: with no page to stop after,
        # a count checks most of the walk's items, which SQLite does faster against that
        # set than by looking up each one's values (at 100,000 items, 12 ms instead of 24)
        counted = ordered(False) if walked else None
        # a list that filters nothing counts the lab-wide items first (see list_page)
        lab_wide = (
            None
            if filters or field_filters or isinstance(sort, tuple)
            else sa.select(_items.c.id).where(_items.c.deleted_at.is_(None), access.lab_wide())
        )
        if len(_LISTS) >= _MAX_LISTS:
            _LISTS.clear()
        statements = _LISTS[key] = PageStatements(query, counted=counted, counted_first=lab_wide)
    return statements


@functools.lru_cache(maxsize=256)
def _walk_check(
    filterables: tuple[tuple[field_values.Filterable, str], ...], many: int
) -> sa.Select[Any]:
    """Whether each of these (filterable, operator) matches at least ``many`` values (its
    value bound as ``field_N``)."""
    return sa.select(
        sa.and_(
            *(
                field_values.has_values(filterable, operator, sa.bindparam(f"field_{n}"), many)
                for n, (filterable, operator) in enumerate(filterables)
            )
        )
    )


def check_type(session: Session, args: Mapping[str, Any]) -> None:
    """Invalid unless the list's ``type``, if given, is enabled or that of stored items
    (of a plugin disabled since: they stay readable, so they are listed by type too)."""
    item_type = args.get("type")
    catalogue = types.current()
    if item_type is None or item_type in catalogue:
        return
    if session.scalar(sa.select(Item.id).where(Item.type == item_type).limit(1)) is None:
        enabled = ", ".join(catalogue)
        raise Invalid(fields={"type": [f"must be one of {enabled}"]}, location="query")


def list_page(
    session: Session, user: User, args: dict[str, Any], page: PageRequest
) -> list[sa.RowMapping]:
    """A page of the items ``user`` may read, filtered and sorted (newest change first
    unless asked), as rows of the columns ItemSummarySchema shows; a search (``q``) is
    :func:`labvault.search.service.search_page`.

    Totals are counted as :func:`labvault.paging.page_rows` says; a list that filters
    nothing counts the lab-wide items first, from an index
    (``ix_items_type_updated_at_id_deleted_at``): every user reads them, and there are
    usually more than the count needs, so who reads each other item is not checked (at
    100,000 items, the count on MariaDB takes 0.2 ms instead of 13).

    A list filtered by fields reads its page one of two ways, chosen by how many values
    each filter matches, counted from its index up to ``WALK_FROM``: if every filter
    matches that many, the items are read in the list's order (a type's newest first from
    ``ix_items_type_updated_at_id_deleted_at``) and each one's fields checked, up to the
    page; else the matches of the filters are read and sorted, a few, where a walk would
    pass many items to find each one. At 100,000 items, a page of an ordinary user's
    cycling runs at 0.5 C and up (5,800 matches) takes SQLite 1.2 ms of SQL instead of 34
    (load 10) and MariaDB 689 handler reads instead of 22,271. The total is counted with
    the set of matches either way, each match's type and trash read from
    ``ix_items_id_type_deleted_at`` on SQLite and PostgreSQL, not from its row (migration
    0020: at 100,000 items, SQLite's count of an ordinary user's cycling runs at 0.5 C
    and up takes 4.5 ms instead of 9.2). What is left of the total is one permission
    check per match up to the count's limit, which MariaDB makes at ~2 µs each.
    """
    sort = args.get("sort")
    filters = {name: args[name] for name in FILTERS if name in args}
    field_filters = args.get("field_filters", ())
    values = {**filters, **{f"field_{n}": f[2] for n, f in enumerate(field_filters)}}
    # on the session's connection: plain SELECTs need none of Session.execute's events
    connection = session.connection()
    walked = bool(field_filters) and bool(
        connection.scalar(
            _walk_check(tuple((_filterable(name), op) for name, op, _ in field_filters), WALK_FROM),
            values,
        )
    )
    statements = _list_statements(
        user,
        frozenset(filters),
        args.get("field_sort") or ("-updated_at" if sort in (None, "relevance") else sort),
        tuple((name, operator) for name, operator, _ in field_filters),
        walked,
    )
    return statements.page(connection, page, values, exact=args["exact"])


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
