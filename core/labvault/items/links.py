"""What an item is linked to: other items (relationships), its creators, its collections.

The setters run inside an item's write (see :mod:`labvault.items.service`); adding an
item to a collection or taking it out (``/collections/<id>/items/<refcode>``) is an
operation of its own here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labvault.auth.models import Role, User
from labvault.collections import service as collections
from labvault.collections.models import Collection, collection_items
from labvault.errors import Invalid, NotFound
from labvault.items import access, types
from labvault.items.models import Item, ItemRelationship, item_creators

#: The message of every 422 about an item's fields.
INVALID_FIELDS = "the item has invalid fields"

# Plain tables, not the mapped classes: a statement without ORM entities or attributes
# skips the ORM's part of executing it (and its autoflush: nothing here reads rows that
# the session could still hold unflushed, see labvault.versions.service).
_collections, _users = Collection.__table__, User.__table__
_links, _targets = ItemRelationship.__table__, Item.__table__.alias("targets")


def _collections_where(condition: sa.ColumnElement[bool]) -> sa.Select[Any]:
    return (
        sa.select(
            _collections.c.id,
            _collections.c.collection_id,
            collection_items.c.item_id.label("owner_id"),
        )
        .join(collection_items, collection_items.c.collection_id == _collections.c.id)
        .where(condition)
        .order_by(_collections.c.collection_id)
    )


def _creators_where(condition: sa.ColumnElement[bool]) -> sa.Select[Any]:
    return (
        sa.select(_users.c.id, _users.c.display_name, item_creators.c.item_id.label("owner_id"))
        .join(item_creators, item_creators.c.user_id == _users.c.id)
        .where(condition)
        .order_by(_users.c.id)
    )


def _relationships_where(condition: sa.ColumnElement[bool]) -> sa.Select[Any]:
    return (
        sa.select(
            _links.c.target_id,
            _targets.c.refcode,
            _targets.c.item_id,
            _links.c.relation,
            _links.c.description,
            _links.c.origin,
            _links.c.item_id.label("owner_id"),
        )
        .join(_targets, _targets.c.id == _links.c.target_id)
        .where(condition)
        .order_by(_links.c.id)
    )


_ONE_ITEM: sa.BindParameter[int] = sa.bindparam("item_id")
_COLLECTIONS = _collections_where(collection_items.c.item_id == _ONE_ITEM)


# Reading an item for a viewer is one statement: the item's row (found by its refcode,
# when the viewer may read it) and its three kinds of link, each filtered to what the
# viewer may see, in one UNION ALL (a statement is a round trip to the database, and each
# costs SQLAlchemy more Python than its rows do); reading the links of an item known by
# its id is the same statement without the item's row. Its columns: the kind of row, the
# item's columns, then the links' own (NULL where a kind has none). A link puts its
# values in the item's columns where they fit: a relationship's target in id, refcode and
# item_id, and its description in description; a creator's id and display_name, and a
# collection's id and collection_id, in id and name.
_ITEM, _RELATIONSHIP, _CREATOR, _COLLECTION = -1, 0, 1, 2
_items = Item.__table__
#: The columns of an item that its answer shows (``item_to_dict``).
ITEM_COLUMNS = (
    *("id", "refcode", "item_id", "type", "name", "description", "date", "status"),
    *("fields", "created_at", "updated_at", "version", "deleted_at"),
)
_COLUMNS = (*ITEM_COLUMNS, "relation", "origin", "position")
#: Columns whose NULLs are typed (as text or a number): PostgreSQL types a column of
#: NULLs in every branch but one as text, which must match the other branch.
_TEXT = frozenset({"refcode", "item_id", "type", "name", "description", "status"})
_NUMBERS = frozenset({"id", "version", "position"})
_REFCODE: sa.BindParameter[str] = sa.bindparam("refcode", type_=sa.String())
#: The id of the item named by ``:refcode``, whoever reads it: the links of an item the
#: viewer may not read (or of one in the trash) are read with it and left unused
_owner = _items.alias("owner")
_BY_REFCODE = sa.select(_owner.c.id).where(_owner.c.refcode == _REFCODE).scalar_subquery()


def _row(kind: int, **values: sa.ColumnElement[Any]) -> list[sa.ColumnElement[Any]]:
    """The columns of one branch: ``values`` by name, NULL in the others."""
    columns: list[sa.ColumnElement[Any]] = [
        sa.literal_column(str(kind), sa.Integer()).label("kind")
    ]
    for name in _COLUMNS:
        if name in values:
            columns.append(values[name].label(name))
        elif name in _TEXT:
            columns.append(sa.cast(sa.null(), sa.String()).label(name))
        elif name in _NUMBERS:
            columns.append(sa.cast(sa.null(), sa.Integer()).label(name))
        else:
            columns.append(sa.null().label(name))
    return columns


def _links_statement(
    readable_items: sa.ColumnElement[bool] | None,
    readable_collections: sa.ColumnElement[bool] | None,
    *,
    by_refcode: bool = False,
) -> sa.CompoundSelect:
    """The links of the item ``:item_id``, or the item ``:refcode`` and its links; with
    conditions, only an item, relationships to items and collections they allow
    (relationships to trashed items are hidden then too)."""
    owner = _BY_REFCODE if by_refcode else _ONE_ITEM
    branches = []
    if by_refcode:  # first: its columns give the union's their types
        item = sa.select(*_row(_ITEM, **{name: _items.c[name] for name in ITEM_COLUMNS})).where(
            _items.c.refcode == _REFCODE, _items.c.deleted_at.is_(None)
        )
        if readable_items is not None:
            item = item.where(readable_items)
        branches.append(item)
    # the targets are the items table itself (not an alias), so that the permission
    # conditions, correlated with "items", apply to the target
    relationships = (
        sa.select(
            *_row(
                _RELATIONSHIP,
                id=_links.c.target_id,
                refcode=_items.c.refcode,
                item_id=_items.c.item_id,
                description=_links.c.description,
                relation=_links.c.relation,
                origin=_links.c.origin,
                position=_links.c.id,
            )
        )
        .join(_items, _items.c.id == _links.c.target_id)
        .where(_links.c.item_id == owner)
    )
    if readable_items is not None:
        relationships = relationships.where(_items.c.deleted_at.is_(None), readable_items)
    creators = (
        sa.select(*_row(_CREATOR, id=_users.c.id, name=_users.c.display_name, position=_users.c.id))
        .join(item_creators, item_creators.c.user_id == _users.c.id)
        .where(item_creators.c.item_id == owner)
    )
    in_collections = (
        sa.select(
            *_row(
                _COLLECTION,
                id=_collections.c.id,
                name=_collections.c.collection_id,
                position=sa.literal_column("0", sa.Integer()),
            )
        )
        .join(collection_items, collection_items.c.collection_id == _collections.c.id)
        .where(collection_items.c.item_id == owner)
    )
    if readable_collections is not None:
        in_collections = in_collections.where(readable_collections)
    # the item first, relationships in the order they were made, creators by id,
    # collections by name
    return sa.union_all(*branches, relationships, creators, in_collections).order_by(
        sa.literal_column("kind"), sa.literal_column("position"), sa.literal_column("name")
    )


_ALL_LINKS = _links_statement(None, None)
#: The statements of each viewer (by user id, whether they read everything, and whether
#: the item is read too), built once per process: building one costs more than running it.
_VIEWER_LINKS: dict[tuple[int, bool, bool, tuple[str, ...]], sa.CompoundSelect] = {}
_MAX_VIEWERS = 1024


def _viewer_links(viewer: User, *, by_refcode: bool = False) -> sa.CompoundSelect:
    key = (viewer.id, viewer.has_role(Role.MANAGER), by_refcode, types.current().lab_wide)
    statement = _VIEWER_LINKS.get(key)
    if statement is None:
        if len(_VIEWER_LINKS) >= _MAX_VIEWERS:
            _VIEWER_LINKS.clear()
        statement = _VIEWER_LINKS[key] = _links_statement(
            access.readable(viewer), collections.readable(viewer), by_refcode=by_refcode
        )
    return statement


@dataclass(frozen=True)
class _Relationship:
    """A relationship as :func:`related_of` reads it (its row), read by :func:`links_of`."""

    target_id: int
    refcode: str
    item_id: str | None
    relation: str
    description: str | None
    origin: str


@dataclass(frozen=True)
class _Creator:
    id: int
    display_name: str


@dataclass(frozen=True)
class Related:
    """What :func:`labvault.items.service.item_to_dict` reads of an item's links (rows
    of :func:`_relationships_where` and :func:`_creators_where`, and the ids of its
    collections), read for one item by :func:`links_of` or for many items
    at once by :func:`related_of`."""

    relationships: list[Any] = field(default_factory=list)
    creators: list[Any] = field(default_factory=list)
    collection_ids: list[str] = field(default_factory=list)


def related_of(session: Session, item_ids: list[int]) -> dict[int, Related]:
    """:class:`Related` of each item, in three queries whatever their number."""
    found = {item_id: Related() for item_id in item_ids}
    if item_ids:
        for row in session.execute(_relationships_where(_links.c.item_id.in_(item_ids))):
            found[row.owner_id].relationships.append(row)
        for row in session.execute(_creators_where(item_creators.c.item_id.in_(item_ids))):
            found[row.owner_id].creators.append(row)
        in_collections = collection_items.c.item_id.in_(item_ids)
        for row in session.execute(_collections_where(in_collections)):
            found[row.owner_id].collection_ids.append(row.collection_id)
    return found


def _read(rows: Iterable[sa.Row[Any]]) -> tuple[sa.Row[Any] | None, Related]:
    """The item's row (if read) and its links, from the rows of :func:`_links_statement`."""
    item, related = None, Related()
    for row in rows:
        if row.kind == _ITEM:
            item = row
        elif row.kind == _RELATIONSHIP:
            related.relationships.append(
                _Relationship(
                    row.id, row.refcode, row.item_id, row.relation, row.description, row.origin
                )
            )
        elif row.kind == _CREATOR:
            related.creators.append(_Creator(row.id, row.name))
        else:
            related.collection_ids.append(row.name)
    return item, related


def links_of(session: Session, item_id: int, viewer: User | None = None) -> Related:
    """:class:`Related` of one item (by its id, ``items.id``), in one statement: with
    ``viewer``, only the relationships to items and the collections they may read."""
    statement = _ALL_LINKS if viewer is None else _viewer_links(viewer)
    return _read(session.connection().execute(statement, {"item_id": item_id}))[1]


def item_and_links(
    session: Session, viewer: User, refcode: str
) -> tuple[sa.Row[Any], Related] | None:
    """The item ``refcode`` (its :data:`ITEM_COLUMNS`, as a plain row) if ``viewer`` may
    read it and it is not in the trash, with its :class:`Related` as :func:`links_of`
    reads them for the viewer: one statement, on the session's connection (a plain
    SELECT needs none of Session.execute's events)."""
    rows = session.connection().execute(
        _viewer_links(viewer, by_refcode=True), {"refcode": refcode}
    )
    item, related = _read(rows)
    return None if item is None else (item, related)


def invalid(fields: dict[str, Any]) -> Invalid:
    return Invalid(INVALID_FIELDS, fields)


def collections_of(session: Session, item: Item, viewer: User | None = None) -> list[str]:
    """collection_ids the item is in (only those ``viewer`` may read, if given)."""
    rows = session.execute(_COLLECTIONS, {"item_id": item.id}).all()
    if viewer is None or not rows:  # most items are in no collection: no more to ask
        return [row.collection_id for row in rows]
    shown = set(
        session.scalars(
            sa.select(Collection.id).where(
                Collection.id.in_([row.id for row in rows]), collections.readable(viewer)
            )
        )
    )
    return [row.collection_id for row in rows if row.id in shown]


def readable_items(session: Session, user: User, refcodes: Iterable[str]) -> dict[str, Item]:
    """The items of ``refcodes`` that ``user`` may read, by refcode (trashed ones left out)."""
    wanted = set(refcodes)
    if not wanted:
        return {}
    return {
        i.refcode: i
        for i in session.scalars(
            sa.select(Item).where(
                Item.refcode.in_(wanted), Item.deleted_at.is_(None), access.readable(user)
            )
        )
    }


def constituent_items(item_type: str, fields: dict[str, Any]) -> list[tuple[str, str]]:
    """(refcode, relationship origin) of every item the fields of an item of ``item_type``
    name in its type's ``derived_links``: a refcode, a list of them, or constituents
    (objects whose ``item`` is one)."""
    catalogue = types.current()
    if item_type not in catalogue:
        return []
    found = []
    for name, origin in catalogue.info(item_type).derived_links.items():
        value = fields.get(name)
        for entry in value if isinstance(value, list) else [value]:
            code = entry.get("item") if isinstance(entry, dict) else entry
            if isinstance(code, str) and code:
                found.append((code, origin))
    return found


def set_relationships(
    session: Session,
    user: User,
    item: Item,
    manual: list[dict[str, Any]] | None,
    earlier_constituents: set[str],
) -> None:
    """Rebuild derived relationships from constituents; replace manual ones if given.

    Only what a change adds must be an item the user can read: links the item already
    has, and constituents it already named, stay valid when their item is in the trash,
    purged or not readable by this editor, so they never block an unrelated change.
    """
    derived = constituent_items(item.type, item.fields)
    wanted = [r["refcode"] for r in manual or ()] + [code for code, _ in derived]
    linked = {r.target.refcode: r.target for r in item.relationships}
    targets = {**linked, **readable_items(session, user, set(wanted) - set(linked))}
    unknown = sorted(
        {r["refcode"] for r in manual or () if r["refcode"] not in targets}
        | {code for code, _ in derived if code not in targets and code not in earlier_constituents}
    )
    if unknown:
        raise invalid({"relationships": [f"no item you can read: {', '.join(unknown)}"]})
    if item.refcode in wanted:
        raise invalid({"relationships": ["an item cannot relate to itself"]})
    existing = {(r.target_id, r.relation, r.origin): r for r in item.relationships}
    rows: dict[tuple[int, str, str], ItemRelationship] = {}
    if manual is None:  # not asked to change them: keep the manual relationships
        rows.update({key: r for key, r in existing.items() if r.origin == "manual"})
    for wish in manual or ():
        target = targets[wish["refcode"]]
        key = (target.id, wish["relation"], "manual")
        row = existing.get(key) or ItemRelationship(
            target=target, target_id=target.id, relation=wish["relation"], origin="manual"
        )
        row.description = wish["description"]
        rows[key] = row
    for code, origin in derived:
        if code not in targets:  # named before and purged since: nothing left to link
            continue
        constituent = targets[code]
        key = (constituent.id, "parent", origin)
        rows.setdefault(
            key,
            existing.get(key)
            or ItemRelationship(
                target=constituent, target_id=constituent.id, relation="parent", origin=origin
            ),
        )
    item.relationships = list(rows.values())


def may_change_creators(user: User, item: Item) -> bool:
    """Only an item's creators and admins say who created it: a write share or a lab-wide
    type lets people edit an item, not make themselves its creators (which would keep
    their access after the share is gone)."""
    return user.has_role(Role.ADMIN) or any(c.id == user.id for c in item.creators)


def changes_creators(item: Item, user_ids: list[int]) -> bool:
    return set(user_ids) != {c.id for c in item.creators}


def set_creators(
    session: Session,
    editor: User,
    item: Item,
    user_ids: list[int],
    disclosed: Iterable[int] = (),
) -> None:
    """Make ``user_ids`` the item's creators. Each must be someone the editor may see
    (:func:`access.seen_users`), one of the item's creators, or ``disclosed`` to the
    editor already (by a version they restore): any other id is answered as one of
    nobody, so that no display name shows through."""
    wanted = list(dict.fromkeys(user_ids))
    known = {editor.id, *(creator.id for creator in item.creators), *disclosed}
    seen = known | access.seen_users(session, editor, set(wanted) - known)
    # one by one: users loaded already (the editor) cost no query, nor flush the item
    found = {user_id: session.get(User, user_id) if user_id in seen else None for user_id in wanted}
    missing = sorted(user_id for user_id, user in found.items() if user is None)
    if missing:
        raise invalid({"creators": [f"no user with id {', '.join(map(str, missing))}"]})
    item.creators = [user for user in found.values() if user is not None]


def set_collections(session: Session, user: User, item: Item, collection_ids: list[str]) -> None:
    # as with PUT and DELETE /collections/<id>/items/<refcode>, only memberships in
    # collections the user may change can come or go; the others stay as they are
    # memberships in collections the user cannot see are not theirs to keep or drop
    wanted, current = set(collection_ids), set(collections_of(session, item, user))
    found = collections.writable_collections(session, user, wanted ^ current)
    refused = sorted((wanted ^ current) - set(found))
    if refused:
        raise invalid(
            {"collections": [f"no collection you may add to or remove from: {', '.join(refused)}"]}
        )
    if current - wanted:
        session.execute(
            sa.delete(collection_items).where(
                collection_items.c.item_id == item.id,
                collection_items.c.collection_id.in_([found[c].id for c in current - wanted]),
            )
        )
    if wanted - current:
        session.execute(
            sa.insert(collection_items),
            [{"collection_id": found[c].id, "item_id": item.id} for c in sorted(wanted - current)],
        )


def add_to_collection(session: Session, collection: Collection, item: Item) -> None:
    """Put an item (loaded with ``write=True``) into a collection (loaded likewise)."""
    exists = session.scalar(
        sa.select(collection_items.c.item_id).where(
            collection_items.c.collection_id == collection.id,
            collection_items.c.item_id == item.id,
        )
    )
    if exists is None:
        session.execute(
            sa.insert(collection_items).values(collection_id=collection.id, item_id=item.id)
        )
    session.commit()


def remove_from_collection(session: Session, collection: Collection, item: Item) -> None:
    """Take an item out of a collection loaded with ``write=True``; NotFound if not in it."""
    result = session.execute(
        sa.delete(collection_items).where(
            collection_items.c.collection_id == collection.id,
            collection_items.c.item_id == item.id,
        )
    )
    session.commit()
    if not getattr(result, "rowcount", 0):
        raise NotFound(f"{item.refcode} is not in collection {collection.collection_id!r}")
