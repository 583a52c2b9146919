"""Versions: every change to an item keeps a snapshot of it, with its blocks and files.

Operations note their changes (:func:`labvault.items.history.changed`); the recorder
that :func:`labvault.versions.recording.keep_versions` attaches to a session factory
turns each into a version here when its transaction commits: the item's version number
goes up and the snapshot is stored, in that same transaction. Any version can be shown
as it was, or restored.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from labvault.auth.models import User
from labvault.blocks import service as blocks
from labvault.collections import service as collections
from labvault.collections.models import Collection
from labvault.db import count_up, utcnow
from labvault.errors import NotFound
from labvault.files import service as files
from labvault.files.models import item_files
from labvault.items import access, links
from labvault.items import service as items
from labvault.items import types as items_types
from labvault.items.history import Change, changed, take_changes
from labvault.items.models import Item, ItemVersion
from labvault.paging import PageRequest, page_rows

# --- recording -------------------------------------------------------------------------


def _record_changes(session: Session) -> None:
    changes = take_changes(session)
    if not changes:
        return
    if len({id(change.item) for change in changes}) < len(changes):
        for change in changes:  # an item changed twice: each version numbered in turn
            _record(session, change)
        return
    # one version per item: the links of all are read at once (an import notes hundreds)
    for change in changes:
        _count_up(change)
    session.flush()
    _read_counted_versions(session, [c.item for c in changes if c.action != "create"])
    ids = [change.item.id for change in changes]
    related = links.related_of(session, ids)
    block_rows = blocks.blocks_of_items(session, ids)
    file_ids = _file_ids_of(session, ids)
    for change in changes:
        item = change.item
        parts = Parts(related[item.id], block_rows.get(item.id, []), file_ids.get(item.id, []))
        session.add(_version(change, snapshot(session, item, parts)))


def _read_counted_versions(session: Session, counted: list[Item]) -> None:
    """Read the version numbers just counted up (``version + 1`` in the database) of
    many items in one query, rather than one query an item when its snapshot reads it."""
    if not counted:
        return
    query = sa.select(Item.id, Item.version).where(Item.id.in_([item.id for item in counted]))
    numbers = {item_id: number for item_id, number in session.execute(query)}
    for item in counted:
        set_committed_value(item, "version", numbers[item.id])


def record_noted_changes(session: Session) -> None:
    """Keep the versions of the changes noted so far now, in the current transaction,
    rather than at commit: a long operation (an import) then holds no item in memory
    until its end. A rollback still takes them back."""
    _record_changes(session)


def record_created(
    session: Session, user: User, created: list[dict[str, Any]], *, linked: bool = False
) -> None:
    """Write the first versions of items added in bulk by ``user`` (the column values
    :func:`labvault.items.bulk.add_items` returned), in the current transaction: the
    versions ``add_item`` would have given them, with one statement for them all.

    ``linked``: the items were given creators, links, files or blocks since (an import),
    read for them all at once; otherwise their one link is their creator."""
    if not created:
        return
    ids = [values["id"] for values in created]
    if linked:
        related = links.related_of(session, ids)
        block_rows = blocks.blocks_of_items(session, ids)
        file_ids = _file_ids_of(session, ids)
    mine = links.Related(creators=[user])  # their one link, unless ``linked``
    rows = []
    for values in created:
        item = cast(Item, SimpleNamespace(**values))
        if linked:
            parts = related[item.id]
            data = items.item_to_dict(session, item, related=parts)
            data.update(
                creator_ids=[u.id for u in parts.creators],
                blocks=[blocks.block_to_dict(b) for b in block_rows.get(item.id, [])],
                file_ids=file_ids.get(item.id, []),
            )
        else:
            data = items.item_to_dict(session, item, related=mine)
            data.update(creator_ids=[user.id], blocks=[], file_ids=[])
        rows.append(
            {
                "item_id": values["id"],
                "number": values["version"],
                "action": "create",
                "snapshot": items.jsonable(data),
                "user_id": user.id,
            }
        )
    session.execute(sa.insert(cast(sa.Table, ItemVersion.__table__)), rows)


def _count_up(change: Change) -> None:
    if change.action != "create":
        count_up(change.item, "version")
        change.item.updated_at = utcnow()


def _version(change: Change, taken: dict[str, Any]) -> ItemVersion:
    return ItemVersion(
        item_id=change.item.id,
        number=change.item.version,
        action=change.action,
        snapshot=taken,
        user_id=change.user_id,
    )


def _record(session: Session, change: Change) -> None:
    _count_up(change)
    session.flush()
    session.add(_version(change, snapshot(session, change.item)))


@dataclass(frozen=True)
class Parts:
    """What a snapshot reads besides the item's row, read for many items at once."""

    related: links.Related
    blocks: list[Any]
    file_ids: list[int]


def _file_ids_of(session: Session, item_ids: list[int]) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    rows = session.execute(
        sa.select(item_files.c.item_id, item_files.c.file_id)
        .where(item_files.c.item_id.in_(item_ids))
        .order_by(item_files.c.file_id)
    )
    for item_id, file_id in rows:
        found.setdefault(item_id, []).append(file_id)
    return found


def snapshot(session: Session, item: Item, parts: Parts | None = None) -> dict[str, Any]:
    """Everything needed to bring the item back as it is now (JSON-ready).

    ``parts``: what else it reads, read already for many items at once.
    """
    if parts is None:
        file_ids = _file_ids_of(session, [item.id]).get(item.id, [])
        parts = Parts(
            links.related_of(session, [item.id])[item.id], blocks.blocks_of(session, item), file_ids
        )
    data = items.item_to_dict(session, item, related=parts.related)
    data["creator_ids"] = [u.id for u in item.creators]
    data["blocks"] = [blocks.block_to_dict(b) for b in parts.blocks]
    data["file_ids"] = list(parts.file_ids)
    result: dict[str, Any] = items.jsonable(data)
    return result


def record_version(
    session: Session, refcode: str, action: str, *, user_id: int | None = None
) -> None:
    """Note a change of the item ``refcode`` (any, trashed or not) made outside the item
    services, e.g. by a plugin; recorded when ``session`` commits."""
    item = session.scalars(sa.select(Item).where(Item.refcode == refcode)).first()
    if item is None:
        raise NotFound(f"no item {refcode}")
    changed(session, item, action, user_id)


# --- reading ---------------------------------------------------------------------------


def version_summary(version: ItemVersion) -> dict[str, Any]:
    return {
        "number": version.number,
        "action": version.action,
        "user": items.user_ref(version.user),
        "created_at": version.created_at,
    }


def versions_page(session: Session, item: Item, page: PageRequest) -> list[dict[str, Any]]:
    """A page of the item's versions, newest first."""
    query = (
        sa.select(ItemVersion)
        .where(ItemVersion.item_id == item.id)
        .order_by(ItemVersion.number.desc())
    )
    return [version_summary(v) for v in page_rows(session, query, page)]


def get_version(session: Session, item: Item, number: int) -> ItemVersion:
    version = session.scalars(
        sa.select(ItemVersion).where(ItemVersion.item_id == item.id, ItemVersion.number == number)
    ).first()
    if version is None:
        raise NotFound(f"{item.refcode} has no version {number}")
    return version


def version_detail(session: Session, user: User, item: Item, number: int) -> dict[str, Any]:
    """One version with its snapshot, as ``user`` may see it now."""
    version = get_version(session, item, number)
    return {**version_summary(version), "snapshot": _as_seen_by(session, user, version.snapshot)}


def versions_of(session: Session, user: User, item: Item) -> list[dict[str, Any]]:
    """Every version of the item, oldest first, each as :func:`version_detail` shows it."""
    found = session.scalars(
        sa.select(ItemVersion).where(ItemVersion.item_id == item.id).order_by(ItemVersion.number)
    )
    return [
        {**version_summary(v), "snapshot": _as_seen_by(session, user, v.snapshot)} for v in found
    ]


def _as_seen_by(session: Session, user: User, snapshot: dict[str, Any]) -> dict[str, Any]:
    """The snapshot with links and collections only ``user`` may read now, as items show them."""
    visible = set(
        session.scalars(
            sa.select(Collection.collection_id).where(
                Collection.collection_id.in_(snapshot.get("collections") or []),
                collections.readable(user),
            )
        )
    )
    snapshot = {
        **snapshot,
        "collections": [c for c in snapshot.get("collections") or [] if c in visible],
    }
    relationships = snapshot.get("relationships") or []
    if not relationships:
        return snapshot
    readable = set(
        session.scalars(
            sa.select(Item.refcode).where(
                Item.refcode.in_({r["refcode"] for r in relationships}),
                Item.deleted_at.is_(None),
                access.readable(user),
            )
        )
    )
    return {**snapshot, "relationships": [r for r in relationships if r["refcode"] in readable]}


# --- restoring -------------------------------------------------------------------------


def restore_version(session: Session, user: User, item: Item, number: int) -> Item:
    """Make the item (fields, relationships, creators, blocks, files) as it was at ``number``.

    The creators are restored only by someone who may change them (``may_change_creators``).
    """
    old = get_version(session, item, number).snapshot
    data: dict[str, Any] = {k: old.get(k) for k in items.COMMON_COLUMNS}
    data["date"] = dt.date.fromisoformat(old["date"]) if old.get("date") else None
    field_names = items_types.current().writable_info(item.type).field_names
    item.fields = {k: old[k] for k in field_names if k in old}
    data["item_id"] = old["item_id"]
    manual = [r for r in old.get("relationships", []) if not r.get("derived")]
    present = links.readable_items(session, user, [r["refcode"] for r in manual])
    data["relationships"] = [
        {"refcode": r["refcode"], "relation": r["relation"], "description": r["description"]}
        for r in manual
        if r["refcode"] in present
    ]
    existing_users = set(session.scalars(sa.select(User.id).where(User.id.in_(old["creator_ids"]))))
    if links.may_change_creators(user, item):  # otherwise the creators stay as they are now
        data["creators"] = [u for u in old["creator_ids"] if u in existing_users]
    items.apply_changes(session, user, item, data, disclosed_users=old["creator_ids"])
    blocks.replace_blocks(session, item, old.get("blocks", []))
    files.set_item_files(session, item, old.get("file_ids", []))
    changed(session, item, "restore", user.id)
    session.commit()
    return item
