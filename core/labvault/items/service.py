"""Reading, creating, changing, trashing and restoring items.

Each public function that writes is one operation in one transaction: it starts the
write (``begin_write``), checks permissions, changes rows, notes the change for the
item's history (:func:`labvault.items.history.changed`, kept as a version when the
transaction commits) and commits.
"""

from __future__ import annotations

import datetime as dt
import functools
import secrets
import string
from collections.abc import Iterable
from typing import Any

import marshmallow as ma
import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.orm import Session

from labvault.audit.service import record
from labvault.auth.models import User
from labvault.db import begin_write, utcnow
from labvault.errors import Conflict, Forbidden, NotFound
from labvault.items import access, field_values, links, types
from labvault.items.history import changed
from labvault.items.models import Item
from labvault.items.texts import search_texts

REFCODE_LETTERS = string.ascii_uppercase
REFCODE_LENGTH = 6
_CODES = len(REFCODE_LETTERS) ** REFCODE_LENGTH
COMMON_COLUMNS = ("name", "description", "date", "status")
#: An item read as a plain row (:func:`read_item`): its columns as attributes
#: (:data:`links.ITEM_COLUMNS`).
ItemRow = sa.Row[Any]
#: Items named at most in an answer about an item_id that several items share.
MAX_NAMED = 10


# --- reading ---------------------------------------------------------------------------


def get_item(
    session: Session,
    user: User,
    refcode: str,
    *,
    write: bool = False,
    trashed: bool = False,
) -> Item:
    """The item for an operation: NotFound if absent or unreadable, Forbidden if not
    writable.

    With ``write`` the operation's write transaction is started and the row locked, so
    the If-Match check and the change cannot interleave with another writer.
    """
    if write:
        begin_write(session)
    query = _item_by_refcode(access.readable(user), trashed=trashed, write=write)
    item = session.scalars(query, {"refcode": refcode}).first()
    if item is None:
        raise NotFound(f"no item {refcode}" + (" in the trash" if trashed else ""))
    if write and not access.check(session, user, item, access.writable(user)):
        raise Forbidden(f"you may read {refcode} but not change it")
    return item


def read_item(session: Session, user: User, refcode: str) -> tuple[ItemRow, links.Related]:
    """The item ``user`` reads (GET) with its links as the user may see them, as
    :func:`item_to_dict` and :func:`etag` read them, or NotFound as :func:`get_item`
    answers. One statement and plain rows: the ORM's entity, identity map and loaders
    cost more than the rows when nothing is changed."""
    found = links.item_and_links(session, user, refcode)
    if found is None:
        raise NotFound(f"no item {refcode}")
    return found


def lock_for_change(session: Session, user: User, item: Item) -> None:
    """Start the write of a change to an item read (writable) with :func:`get_item` before
    slow work done outside the write, such as storing an upload: its row is locked and
    read again, still there (else NotFound) and writable by ``user`` (else Forbidden)."""
    begin_write(session)
    locked = session.scalars(
        sa.select(Item)
        .where(Item.id == item.id, Item.deleted_at.is_(None), access.writable(user))
        .options(orm.lazyload(Item.creators), orm.lazyload(Item.relationships))
        .with_for_update(of=Item)
        .execution_options(populate_existing=True)
    ).first()
    if locked is not None:
        return
    there = sa.and_(Item.id == item.id, Item.deleted_at.is_(None), access.readable(user))
    if session.scalar(sa.select(Item.id).where(there)) is None:
        raise NotFound(f"no item {item.refcode}")
    raise Forbidden(f"you may read {item.refcode} but not change it")


def get_item_by_item_id(
    session: Session, user: User, item_id: str
) -> tuple[ItemRow, links.Related]:
    """The item with this item_id, among those ``user`` may read (NotFound otherwise: the
    answer must not name another item's refcode).

    An item_id is unique among the items one user may know of when it is set; someone
    who reads more (a manager, a new share) may read two with one item_id: Conflict,
    naming both.
    """
    refcodes = list(
        session.scalars(
            sa.select(Item.refcode)
            .where(Item.item_id == item_id, Item.deleted_at.is_(None), access.readable(user))
            .order_by(Item.refcode)
            .limit(MAX_NAMED + 1)
        )
    )
    if not refcodes:
        raise NotFound(f"no item with item_id {item_id!r}")
    if len(refcodes) > 1:
        named = ", ".join(refcodes[:MAX_NAMED]) + (", ..." if len(refcodes) > MAX_NAMED else "")
        raise Conflict(
            f"item_id {item_id!r} names several items you may read: {named}; "
            "ask for one by its refcode"
        )
    return read_item(session, user, refcodes[0])


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
    if write:  # the locked row, not what an earlier read of this session left
        return query.with_for_update(of=Item).execution_options(populate_existing=True)
    return query


def etag(item: Item | ItemRow) -> str:
    return f'"{item.refcode}@{item.version}"'


def user_ref(user: User | None) -> dict[str, Any] | None:
    return None if user is None else {"id": user.id, "display_name": user.display_name}


def item_to_dict(
    session: Session,
    item: Item | ItemRow,
    viewer: User | None = None,
    related: links.Related | None = None,
) -> dict[str, Any]:
    """The item as the API shows it (relationships to items the viewer cannot read hidden).

    ``related``: its links read already, as the viewer may see them (:func:`read_item`),
    or all of them without a viewer (:func:`links.related_of`, for many items).
    """
    if related is None:  # the viewer's links: only items and collections they may read
        related = links.links_of(session, item.id, viewer)
    relationships, creators = related.relationships, related.creators
    collection_ids = related.collection_ids
    catalogue = types.current()
    dates = catalogue.info(item.type).date_fields if item.type in catalogue else ()
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
            name: _date_or_text(item.fields[name])
            for name in dates
            if isinstance(item.fields.get(name), str)
        },
        "creators": [{"id": u.id, "display_name": u.display_name} for u in creators],
        "collections": collection_ids,
        "relationships": [
            {
                "refcode": r.refcode,
                "item_id": r.item_id,
                "relation": r.relation,
                "description": r.description,
                "derived": r.origin != "manual",
            }
            for r in relationships
        ],
        "created_at": item.created_at,
        "updated_at": item.updated_at,
        "version": item.version,
        "deleted_at": item.deleted_at,
    }


def _date_or_text(text: str) -> dt.date | str:
    """A date field's stored ISO text as a date; text that is no date (stored before the
    field became a date) as it is: the answer then shows the stored fields as they are."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return text


#: Values :func:`jsonable` returns as they are, told by their exact type: most are, and
#: one look-up costs less than the three ``isinstance`` that would say so.
_PLAIN = frozenset({str, int, float, bool, type(None)})


def jsonable(value: Any) -> Any:
    """``value`` with dates and datetimes as ISO text, as a JSON column keeps them."""
    if type(value) in _PLAIN:
        return value
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


# --- writing ---------------------------------------------------------------------------


def generated_item_id(refcode: str) -> str:
    return refcode.replace(":", "-")


def _random_code() -> str:
    """Six letters of REFCODE_LETTERS, each as likely as any: one random number for the
    six, not one each (an import draws them by the hundred thousand)."""
    number = secrets.randbelow(_CODES)
    letters = []
    for _ in range(REFCODE_LENGTH):
        number, letter = divmod(number, len(REFCODE_LETTERS))
        letters.append(REFCODE_LETTERS[letter])
    return "".join(letters)


def free_refcodes(session: Session, prefix: str, count: int) -> list[str]:
    """``count`` free refcodes whose generated item_ids are free too (a client may have
    chosen one), found with one query per round."""
    found: list[str] = []
    while len(found) < count:
        wanted = {f"{prefix}:{_random_code()}" for _ in range(count - len(found))} - set(found)
        generated = {generated_item_id(code): code for code in wanted}
        taken = sa.or_(Item.refcode.in_(wanted), Item.item_id.in_(generated))
        for refcode, item_id in session.execute(sa.select(Item.refcode, Item.item_id).where(taken)):
            wanted.discard(refcode)
            wanted.discard(generated.get(item_id, ""))
        found += sorted(wanted)
    return found


def _ensure_item_id_free(
    session: Session, user: User, item_id: str, item: Item | None = None
) -> None:
    """Conflict if another item ``user`` may know of has ``item_id``. Items they may not
    know of do not count: refusing for one would tell them it exists."""
    query = sa.select(Item.id).where(Item.item_id == item_id, access.known(user))
    if item is not None and item.id is not None:
        query = query.where(Item.id != item.id)
    if session.scalar(query.limit(1)) is not None:
        raise Conflict(f"item_id {item_id!r} is already used by another item")


def apply_changes(
    session: Session,
    user: User,
    item: Item,
    data: dict[str, Any],
    disclosed_users: Iterable[int] = (),
) -> None:
    """Set the item's fields, item_id, relationships and creators from validated ``data``
    (what is absent stays), in the current write. ``disclosed_users``: creators the user
    has been shown already (by the version they restore), whom they may name."""
    for column in COMMON_COLUMNS:
        if column in data:
            setattr(
                item, column, data[column] if data[column] is not None or column == "date" else ""
            )
    info = types.current().writable_info(item.type)
    earlier_constituents = {code for code, _ in links.constituent_items(item.type, item.fields)}
    type_fields = dict(item.fields)
    for name in info.field_names:
        if name in data:
            type_fields[name] = jsonable(data[name])
    item.fields = type_fields
    if data.get("item_id"):
        _ensure_item_id_free(session, user, data["item_id"], item)
        item.item_id = data["item_id"]
    # before the links: their queries flush a new item, which these would then UPDATE
    item.search_title, item.search_body = search_texts(item)
    links.set_relationships(session, user, item, data.get("relationships"), earlier_constituents)
    if "creators" in data:
        links.set_creators(session, user, item, data["creators"], disclosed_users)
    if info.filterable:
        session.flush()  # a new item's id
        field_values.store(session, info, item)


def create_item(session: Session, user: User, data: dict[str, Any], prefix: str) -> Item:
    """Create an item from a validated body (see ``ItemCreateSchema``)."""
    item = add_item(session, user, data, prefix)
    session.commit()
    return item


def add_item(
    session: Session, user: User, data: dict[str, Any], prefix: str, *, refcode: str | None = None
) -> Item:
    """Add an item made from a validated body to the current write (a version is noted).

    ``refcode``: one of :func:`free_refcodes` (a new one is found otherwise).
    """
    if not access.may_create(user):
        raise Forbidden("your account is not verified yet: you can only read")
    begin_write(session)
    refcode = refcode or free_refcodes(session, prefix, 1)[0]
    item_type = data["type"]
    info = types.current().writable_info(item_type)
    item = Item(
        refcode=refcode,
        item_id=data.get("item_id") or generated_item_id(refcode),
        type=item_type,
        status=data.get("status") or info.initial_status(),
        fields={},
        created_by_id=user.id,
    )
    if data.get("item_id"):  # a generated one is free: free_refcodes saw to it
        _ensure_item_id_free(session, user, item.item_id)
    session.add(item)
    apply_changes(
        session,
        user,
        item,
        {"creators": [user.id], **{k: v for k, v in data.items() if k != "item_id"}},
    )
    session.flush()
    if "collections" in data:
        links.set_collections(session, user, item, data["collections"])
    changed(session, item, "create", user.id)
    return item


def update_item(session: Session, user: User, item: Item, data: dict[str, Any]) -> Item:
    """Apply a validated PATCH body (``ItemPatchSchema``) to an item loaded with
    ``write=True``: only fields of the item's own type, and never its type."""
    if "type" in data and data["type"] != item.type:
        raise links.invalid({"type": ["the type of an item cannot change"]})
    data = {**data, **type_fields_of(item.type, data)}
    if "item_id" in data and data["item_id"] is None:
        raise links.invalid({"item_id": ["cannot be removed"]})
    changes_creators = "creators" in data and links.changes_creators(item, data["creators"])
    if changes_creators and not links.may_change_creators(user, item):
        raise Forbidden("only the item's creators or an admin can change its creators")
    apply_changes(session, user, item, data)
    if "collections" in data:
        links.set_collections(session, user, item, data["collections"])
    changed(session, item, "update", user.id)
    session.commit()
    return item


def type_fields_of(item_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """The fields of a PATCH body (``ItemPatchSchema``) that are not common to every item,
    loaded with the fields of ``item_type``, and its status and item_id checked as the
    type takes them: Invalid (422) naming each field it does not take."""
    info = types.current().writable_info(item_type)
    common = info.input.fields.keys() - info.field_names
    own = {name: value for name, value in data.items() if name not in common and name != "type"}
    problems: dict[str, list[str]] = {}
    try:
        # partial for its own fields only, not those of nested schemas (a constituent)
        loaded: dict[str, Any] = info.fields_only.load(own, partial=tuple(info.field_names))
    except ma.ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        problems.update(
            {name: list(m) if isinstance(m, list) else [m] for name, m in messages.items()}
        )
        loaded = {}
    for name in ("status", "item_id"):  # as the type takes them
        if data.get(name) is not None:
            try:
                info.input.fields[name].deserialize(data[name])
            except ma.ValidationError as exc:
                problems[name] = list(exc.messages)
    if problems:
        raise links.invalid(problems)
    return loaded


def trash_item(session: Session, user: User, item: Item) -> None:
    item.deleted_at = utcnow()
    item.deleted_by_id = user.id
    changed(session, item, "delete", user.id)
    session.commit()


def restore_from_trash(session: Session, user: User, item: Item) -> Item:
    _ensure_item_id_free(session, user, item.item_id, item)
    item.deleted_at = None
    item.deleted_by_id = None
    changed(session, item, "restore", user.id)
    record(session, "item.restored", f"item {item.refcode}", actor=user, details=_named(item))
    session.commit()
    return item


def purge(session: Session, user: User, item: Item) -> None:
    """Delete an item for good, with its versions, blocks and links (admins only)."""
    record(session, "item.purged", f"item {item.refcode}", actor=user, details=_named(item))
    session.delete(item)
    session.commit()


def _named(item: Item) -> dict[str, Any]:
    """What tells an item apart in the audit log once it is gone."""
    return {"item_id": item.item_id, "type": item.type, "name": item.name}
