"""Creating, changing, trashing and restoring items; every change keeps a version.

Each public function here is one operation in one transaction: it starts the write
(``begin_write``), checks permissions, changes rows, records the version and commits.
"""

from __future__ import annotations

import datetime as dt
import functools
import secrets
import string
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from flask_smorest import abort
from sqlalchemy import orm
from sqlalchemy.orm import Session

from labvault.blocks.models import Block
from labvault.collections.models import Collection, collection_items
from labvault.db import begin_write, utcnow
from labvault.files.models import StoredFile, item_files
from labvault.items import access
from labvault.items.models import Item, ItemRelationship, ItemVersion, item_creators
from labvault.items.schemas import (
    CONSTITUENT_FIELDS,
    DATE_FIELDS,
    SEARCHED_FIELDS,
    STATUSES,
    TYPE_FIELDS,
    validate_item_input,
)
from labvault.items.search import compounds
from labvault.users.models import Role, User

REFCODE_LETTERS = string.ascii_uppercase
COMMON_COLUMNS = ("name", "description", "date", "status")


# --- reading ---------------------------------------------------------------------------


def get_item(
    session: Session,
    user: User,
    refcode: str,
    *,
    write: bool = False,
    trashed: bool = False,
) -> Item:
    """The item for an operation: 404 if absent or unreadable, 403 if not writable.

    With ``write`` the operation's write transaction is started and the row locked, so
    the If-Match check and the change cannot interleave with another writer.
    """
    if write:
        begin_write(session)
    query = _item_by_refcode(access.readable(user), trashed=trashed, write=write)
    item = session.scalars(query, {"refcode": refcode}).first()
    if item is None:
        abort(404, message=f"no item {refcode}" + (" in the trash" if trashed else ""))
    assert item is not None
    if write and not access.check(session, user, item, access.writable(user)):
        abort(403, message=f"you may read {refcode} but not change it")
    return item


# The statements of reading one item are built once, with the item as a parameter:
# building a statement costs more than running it for one row. For the same reason the
# creators and relationships of an item are read as plain rows, not through its ORM
# relationships (which get_item leaves unloaded until something uses them).


@functools.lru_cache(maxsize=1024)
def _item_by_refcode(
    readable: sa.ColumnElement[bool], *, trashed: bool, write: bool
) -> sa.Select[Any]:
    """get_item's statement for one reader (``readable`` is cached per user by access)."""
    query = (
        sa.select(Item)
        .where(
            Item.refcode == sa.bindparam("refcode"),
            readable,
            Item.deleted_at.is_not(None) if trashed else Item.deleted_at.is_(None),
        )
        .options(orm.lazyload(Item.creators), orm.lazyload(Item.relationships))
    )
    return query.with_for_update(of=Item) if write else query


# Plain tables, not the mapped classes: a statement without ORM entities or attributes
# skips the ORM's part of executing it (and its autoflush: nothing here reads rows that
# the session could still hold unflushed, see record_version).
_collections, _users = Collection.__table__, User.__table__
_links, _targets = ItemRelationship.__table__, Item.__table__.alias("targets")
_COLLECTIONS = (
    sa.select(_collections.c.id, _collections.c.collection_id)
    .join(collection_items, collection_items.c.collection_id == _collections.c.id)
    .where(collection_items.c.item_id == sa.bindparam("item_id"))
    .order_by(_collections.c.collection_id)
)
_CREATORS = (
    sa.select(_users.c.id, _users.c.display_name)
    .join(item_creators, item_creators.c.user_id == _users.c.id)
    .where(item_creators.c.item_id == sa.bindparam("item_id"))
    .order_by(_users.c.id)
)
_RELATIONSHIPS = (
    sa.select(
        _links.c.target_id,
        _targets.c.refcode,
        _targets.c.item_id,
        _links.c.relation,
        _links.c.description,
        _links.c.origin,
    )
    .join(_targets, _targets.c.id == _links.c.target_id)
    .where(_links.c.item_id == sa.bindparam("item_id"))
    .order_by(_links.c.id)
)


def etag(item: Item) -> str:
    return f'"{item.refcode}@{item.version}"'


def collections_of(session: Session, item: Item, viewer: User | None = None) -> list[str]:
    """collection_ids the item is in (only those ``viewer`` may read, if given)."""
    from labvault.collections.service import readable as readable_collection

    rows = session.execute(_COLLECTIONS, {"item_id": item.id}).all()
    if viewer is None or not rows:  # most items are in no collection: no more to ask
        return [row.collection_id for row in rows]
    shown = set(
        session.scalars(
            sa.select(Collection.id).where(
                Collection.id.in_([row.id for row in rows]), readable_collection(viewer)
            )
        )
    )
    return [row.collection_id for row in rows if row.id in shown]


def file_ids_of(session: Session, item: Item) -> list[int]:
    return list(
        session.scalars(
            sa.select(item_files.c.file_id)
            .where(item_files.c.item_id == item.id)
            .order_by(item_files.c.file_id)
        )
    )


def blocks_of(session: Session, item: Item) -> list[Block]:
    return list(
        session.scalars(
            sa.select(Block).where(Block.item_id == item.id).order_by(Block.position, Block.id)
        )
    )


def user_ref(user: User | None) -> dict[str, Any] | None:
    return None if user is None else {"id": user.id, "display_name": user.display_name}


def item_to_dict(session: Session, item: Item, viewer: User | None = None) -> dict[str, Any]:
    """The item as the API shows it (relationships to items the viewer cannot read hidden)."""
    relationships = session.execute(_RELATIONSHIPS, {"item_id": item.id}).all()
    visible = None
    if viewer is not None and relationships:
        target_ids = [r.target_id for r in relationships]
        visible = set(
            session.scalars(
                sa.select(Item.id).where(
                    Item.id.in_(target_ids), Item.deleted_at.is_(None), access.readable(viewer)
                )
            )
        )
    return {
        "refcode": item.refcode,
        "item_id": item.item_id,
        "type": item.type,
        "name": item.name,
        "description": item.description,
        "date": item.date,
        "status": item.status,
        **item.fields,
        **{
            name: dt.date.fromisoformat(item.fields[name])
            for name in DATE_FIELDS
            if isinstance(item.fields.get(name), str)
        },
        "creators": [
            {"id": u.id, "display_name": u.display_name}
            for u in session.execute(_CREATORS, {"item_id": item.id})
        ],
        "collections": collections_of(session, item, viewer),
        "relationships": [
            {
                "refcode": r.refcode,
                "item_id": r.item_id,
                "relation": r.relation,
                "description": r.description,
                "derived": r.origin != "manual",
            }
            for r in relationships
            if visible is None or r.target_id in visible
        ],
        "created_at": item.created_at,
        "updated_at": item.updated_at,
        "version": item.version,
        "deleted_at": item.deleted_at,
    }


def snapshot(session: Session, item: Item) -> dict[str, Any]:
    """Everything needed to bring the item back as it is now (JSON-ready)."""
    from labvault.blocks.service import block_to_dict

    data = item_to_dict(session, item)
    data["creator_ids"] = [u.id for u in item.creators]
    data["blocks"] = [block_to_dict(b) for b in blocks_of(session, item)]
    data["file_ids"] = file_ids_of(session, item)
    return _jsonable(data)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def record_version(session: Session, item: Item, action: str, user: User) -> None:
    """Bump the item's version and store a snapshot of it, in the current transaction."""
    if action != "create":
        item.version += 1
        item.updated_at = utcnow()
    session.flush()
    session.add(
        ItemVersion(
            item_id=item.id,
            number=item.version,
            action=action,
            snapshot=snapshot(session, item),
            user_id=user.id,
        )
    )


# --- writing ---------------------------------------------------------------------------


def _generated_item_id(refcode: str) -> str:
    return refcode.replace(":", "-")


def _new_refcode(session: Session, prefix: str) -> str:
    """A free refcode whose generated item_id is free too (a client may have chosen it)."""
    while True:
        code = f"{prefix}:{''.join(secrets.choice(REFCODE_LETTERS) for _ in range(6))}"
        taken = sa.or_(Item.refcode == code, Item.item_id == _generated_item_id(code))
        if session.scalar(sa.select(Item.id).where(taken)) is None:
            return code


def _ensure_item_id_free(session: Session, item_id: str, item: Item | None = None) -> None:
    taken = session.scalar(sa.select(Item.id).where(Item.item_id == item_id))
    if taken is not None and (item is None or taken != item.id):
        abort(409, message=f"item_id {item_id!r} is already used by another item")


def _readable_items(session: Session, user: User, refcodes: Iterable[str]) -> dict[str, Item]:
    wanted = set(refcodes)
    if not wanted:
        return {}
    found = {
        i.refcode: i
        for i in session.scalars(
            sa.select(Item).where(
                Item.refcode.in_(wanted), Item.deleted_at.is_(None), access.readable(user)
            )
        )
    }
    return found


def _invalid(errors: dict[str, Any]) -> None:
    abort(422, errors={"json": errors}, message="the item has invalid fields")


def _constituent_items(fields: dict[str, Any]) -> list[tuple[str, str]]:
    """(refcode, relationship origin) of every constituent that names an item."""
    return [
        (entry["item"], origin)
        for field, origin in CONSTITUENT_FIELDS.items()
        for entry in fields.get(field) or ()
        if entry.get("item")
    ]


def _set_relationships(
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
    derived = _constituent_items(item.fields)
    wanted = [r["refcode"] for r in manual or ()] + [code for code, _ in derived]
    linked = {r.target.refcode: r.target for r in item.relationships}
    targets = {**linked, **_readable_items(session, user, set(wanted) - set(linked))}
    unknown = sorted(
        {r["refcode"] for r in manual or () if r["refcode"] not in targets}
        | {code for code, _ in derived if code not in targets and code not in earlier_constituents}
    )
    if unknown:
        _invalid({"relationships": [f"no item you can read: {', '.join(unknown)}"]})
    if item.refcode in wanted:
        _invalid({"relationships": ["an item cannot relate to itself"]})
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


def _changes_creators(item: Item, user_ids: list[int]) -> bool:
    return set(user_ids) != {c.id for c in item.creators}


def _set_creators(session: Session, item: Item, user_ids: list[int]) -> None:
    users = list(session.scalars(sa.select(User).where(User.id.in_(user_ids))))
    missing = sorted(set(user_ids) - {u.id for u in users})
    if missing:
        _invalid({"creators": [f"no user with id {', '.join(map(str, missing))}"]})
    item.creators = users


def _set_collections(session: Session, user: User, item: Item, collection_ids: list[str]) -> None:
    from labvault.collections.service import writable_collections

    # as with PUT and DELETE /collections/<id>/items/<refcode>, only memberships in
    # collections the user may change can come or go; the others stay as they are
    # memberships in collections the user cannot see are not theirs to keep or drop
    wanted, current = set(collection_ids), set(collections_of(session, item, user))
    found = writable_collections(session, user, wanted ^ current)
    refused = sorted((wanted ^ current) - set(found))
    if refused:
        _invalid(
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


def _search_texts(item: Item) -> tuple[str, str]:
    title = " ".join(filter(None, [item.name, item.item_id, item.refcode]))
    names = [
        entry.get("name") or ""
        for field in CONSTITUENT_FIELDS
        for entry in item.fields.get(field) or ()
    ]
    parts = [item.description, *(str(item.fields.get(f) or "") for f in SEARCHED_FIELDS), *names]
    body = " ".join(p for p in parts if p)
    return f"{title} {compounds(title)}".strip()[:700], f"{body} {compounds(body)}".strip()


def _apply(session: Session, user: User, item: Item, data: dict[str, Any]) -> None:
    for column in COMMON_COLUMNS:
        if column in data:
            setattr(
                item, column, data[column] if data[column] is not None or column == "date" else ""
            )
    earlier_constituents = {code for code, _ in _constituent_items(item.fields)}
    type_fields = dict(item.fields)
    for name in TYPE_FIELDS[item.type]().fields:
        if name in data:
            type_fields[name] = _jsonable(data[name])
    item.fields = type_fields
    if data.get("item_id"):
        _ensure_item_id_free(session, data["item_id"], item)
        item.item_id = data["item_id"]
    _set_relationships(session, user, item, data.get("relationships"), earlier_constituents)
    if "creators" in data:
        _set_creators(session, item, data["creators"])
    item.search_title, item.search_body = _search_texts(item)


def create_item(session: Session, user: User, data: dict[str, Any], prefix: str) -> Item:
    """Create an item from a validated body (see ``ItemCreateSchema``)."""
    if not access.may_create(user):
        abort(403, message="your account is not verified yet: you can only read")
    begin_write(session)
    refcode = _new_refcode(session, prefix)
    item_type = data["type"]
    item = Item(
        refcode=refcode,
        item_id=data.get("item_id") or _generated_item_id(refcode),
        type=item_type,
        status=data.get("status") or STATUSES[item_type][0],
        fields={},
        created_by_id=user.id,
    )
    _ensure_item_id_free(session, item.item_id)
    session.add(item)
    _apply(
        session,
        user,
        item,
        {"creators": [user.id], **{k: v for k, v in data.items() if k != "item_id"}},
    )
    session.flush()
    if "collections" in data:
        _set_collections(session, user, item, data["collections"])
    record_version(session, item, "create", user)
    session.commit()
    return item


def update_item(session: Session, user: User, item: Item, body: Any) -> Item:
    """Apply a PATCH body to an item already loaded with ``write=True``."""
    if isinstance(body, dict) and "type" in body and body["type"] != item.type:
        _invalid({"type": ["the type of an item cannot change"]})
    try:
        data = validate_item_input(item.type, body, partial=True)
    except Exception as exc:  # marshmallow.ValidationError, with the messages per field
        _invalid(getattr(exc, "messages", {"_schema": [str(exc)]}))
        raise
    if "item_id" in data and data["item_id"] is None:
        _invalid({"item_id": ["cannot be removed"]})
    changes_creators = "creators" in data and _changes_creators(item, data["creators"])
    if changes_creators and not may_change_creators(user, item):
        abort(403, message="only the item's creators or an admin can change its creators")
    _apply(session, user, item, data)
    if "collections" in data:
        _set_collections(session, user, item, data["collections"])
    record_version(session, item, "update", user)
    session.commit()
    return item


def trash_item(session: Session, user: User, item: Item) -> None:
    item.deleted_at = utcnow()
    item.deleted_by_id = user.id
    record_version(session, item, "delete", user)
    session.commit()


def restore_from_trash(session: Session, user: User, item: Item) -> Item:
    _ensure_item_id_free(session, item.item_id, item)
    item.deleted_at = None
    item.deleted_by_id = None
    record_version(session, item, "restore", user)
    session.commit()
    return item


def purge(session: Session, item: Item) -> None:
    """Delete an item for good, with its versions, blocks and links (admins only)."""
    session.delete(item)
    session.commit()


def get_version(session: Session, item: Item, number: int) -> ItemVersion:
    version = session.scalars(
        sa.select(ItemVersion).where(ItemVersion.item_id == item.id, ItemVersion.number == number)
    ).first()
    if version is None:
        abort(404, message=f"{item.refcode} has no version {number}")
    assert version is not None
    return version


def restore_version(session: Session, user: User, item: Item, number: int) -> Item:
    """Make the item (fields, relationships, creators, blocks, files) as it was at ``number``.

    The creators are restored only by someone who may change them (``may_change_creators``).
    """
    from labvault.blocks.service import replace_blocks

    old = get_version(session, item, number).snapshot
    data: dict[str, Any] = {k: old.get(k) for k in COMMON_COLUMNS}
    data["date"] = dt.date.fromisoformat(old["date"]) if old.get("date") else None
    item.fields = {k: old[k] for k in TYPE_FIELDS[item.type]().fields if k in old}
    data["item_id"] = old["item_id"]
    manual = [r for r in old.get("relationships", []) if not r.get("derived")]
    present = _readable_items(session, user, [r["refcode"] for r in manual])
    data["relationships"] = [
        {"refcode": r["refcode"], "relation": r["relation"], "description": r["description"]}
        for r in manual
        if r["refcode"] in present
    ]
    existing_users = set(session.scalars(sa.select(User.id).where(User.id.in_(old["creator_ids"]))))
    if may_change_creators(user, item):  # otherwise the creators stay as they are now
        data["creators"] = [u for u in old["creator_ids"] if u in existing_users]
    _apply(session, user, item, data)
    replace_blocks(session, item, old.get("blocks", []))
    _set_file_links(session, item, old.get("file_ids", []))
    record_version(session, item, "restore", user)
    session.commit()
    return item


def _set_file_links(session: Session, item: Item, file_ids: list[int]) -> None:
    present = set(session.scalars(sa.select(StoredFile.id).where(StoredFile.id.in_(file_ids))))
    session.execute(sa.delete(item_files).where(item_files.c.item_id == item.id))
    if present:
        session.execute(
            sa.insert(item_files), [{"item_id": item.id, "file_id": f} for f in sorted(present)]
        )


# --- lists and graphs --------------------------------------------------------------------


def list_query(user: User, args: dict[str, Any]) -> sa.Select[Any]:
    """Items the user may read, filtered as asked (without the full-text part)."""
    query = sa.select(Item).where(Item.deleted_at.is_(None), access.readable(user))
    if "type" in args:
        query = query.where(Item.type == args["type"])
    if "status" in args:
        query = query.where(Item.status == args["status"])
    if "creator" in args:
        query = query.where(
            Item.id.in_(
                sa.select(item_creators.c.item_id).where(item_creators.c.user_id == args["creator"])
            )
        )
    if "collection" in args:
        query = query.where(
            Item.id.in_(
                sa.select(collection_items.c.item_id)
                .join(Collection, Collection.id == collection_items.c.collection_id)
                .where(Collection.collection_id == args["collection"])
            )
        )
    return query


def sorted_query(query: sa.Select[Any], sort: str) -> sa.Select[Any]:
    descending = sort.startswith("-")
    column = getattr(Item, sort.lstrip("-"))
    return query.order_by(column.desc() if descending else column.asc(), Item.id.desc())


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
        links = ItemRelationship.item_id.in_(ids), ItemRelationship.target_id.in_(ids)
        between = session.execute(
            sa.select(
                ItemRelationship.item_id, ItemRelationship.target_id, ItemRelationship.relation
            ).where(*links)
        )
        edges = {(a, b, relation) for a, b, relation in between}
    return {
        "nodes": list(seen.values()),
        "edges": [
            {"source": seen[a].refcode, "target": seen[b].refcode, "relation": rel}
            for a, b, rel in sorted(edges)
        ],
    }
