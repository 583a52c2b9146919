"""Collections: who may see and change them, and their membership."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labvault.auth.models import Role, Status, User
from labvault.collections.models import Collection, CollectionShare, collection_items
from labvault.db import begin_write, count_up, utcnow
from labvault.errors import Conflict, Forbidden, Invalid, NotFound
from labvault.paging import PageRequest, page_rows


def _shared_with(user: User, *, write: bool) -> sa.Select[Any]:
    query = sa.select(CollectionShare.collection_id).where(CollectionShare.user_id == user.id)
    if write:
        query = query.where(CollectionShare.permission == "write")
    return query


def readable(user: User) -> sa.ColumnElement[bool]:
    if user.has_role(Role.MANAGER):
        return sa.true()
    return sa.or_(
        Collection.created_by_id == user.id, Collection.id.in_(_shared_with(user, write=False))
    )


def writable(user: User) -> sa.ColumnElement[bool]:
    if user.status == Status.UNVERIFIED:
        return sa.false()
    if user.has_role(Role.ADMIN):
        return sa.true()
    return sa.or_(
        Collection.created_by_id == user.id, Collection.id.in_(_shared_with(user, write=True))
    )


def permission_of(user: User, collection: Collection) -> str:
    if collection.created_by_id == user.id:
        return "owner"
    if user.status != Status.UNVERIFIED and user.has_role(Role.ADMIN):
        return "write"
    share = next((s for s in collection.shares if s.user_id == user.id), None)
    if share is not None and (share.permission == "read" or user.status != Status.UNVERIFIED):
        return share.permission
    return "read"


def require_owner(user: User, collection: Collection, what: str) -> None:
    """Forbidden unless ``user`` owns the collection or is an admin: a write share is for
    items."""
    if collection.created_by_id != user.id and not user.has_role(Role.ADMIN):
        raise Forbidden(f"only the owner of collection {collection.collection_id!r} may {what}")


def writable_collections(
    session: Session, user: User, collection_ids: Iterable[str]
) -> dict[str, Collection]:
    wanted = set(collection_ids)
    if not wanted:
        return {}
    return {
        c.collection_id: c
        for c in session.scalars(
            sa.select(Collection).where(Collection.collection_id.in_(wanted), writable(user))
        )
    }


def etag(collection: Collection) -> str:
    return f'"collection-{collection.id}@{collection.version}"'


def get_collection(
    session: Session, user: User, collection_id: str, *, write: bool = False
) -> Collection:
    query = sa.select(Collection).where(Collection.collection_id == collection_id, readable(user))
    if write:
        begin_write(session)
        query = query.with_for_update(of=Collection).execution_options(populate_existing=True)
    collection = session.scalars(query).first()
    if collection is None:
        raise NotFound(f"no collection {collection_id!r}")
    if write:
        allowed = session.scalar(
            sa.select(Collection.id).where(Collection.id == collection.id, writable(user))
        )
        if allowed is None:
            raise Forbidden(f"you may read collection {collection_id!r} but not change it")
    return collection


def list_page(session: Session, user: User, page: PageRequest) -> list[dict[str, Any]]:
    """A page of the collections ``user`` may read, by collection_id."""
    query = sa.select(Collection).where(readable(user)).order_by(Collection.collection_id)
    return [to_dict(session, user, c) for c in page_rows(session, query, page)]


def to_dict(session: Session, user: User, collection: Collection) -> dict[str, Any]:
    count = session.scalar(
        sa.select(sa.func.count()).where(collection_items.c.collection_id == collection.id)
    )
    return {
        "collection_id": collection.collection_id,
        "title": collection.title,
        "description": collection.description,
        "created_by": None
        if collection.created_by is None
        else {"id": collection.created_by.id, "display_name": collection.created_by.display_name},
        "shares": [
            {"user_id": s.user_id, "permission": s.permission, "display_name": s.user.display_name}
            for s in collection.shares
        ],
        "item_count": count or 0,
        "permission": permission_of(user, collection),
        "created_at": collection.created_at,
        "updated_at": collection.updated_at,
        "version": collection.version,
    }


def _ensure_free(session: Session, collection_id: str, collection: Collection | None) -> None:
    taken = session.scalar(
        sa.select(Collection.id).where(Collection.collection_id == collection_id)
    )
    if taken is not None and (collection is None or taken != collection.id):
        raise Conflict(f"collection_id {collection_id!r} is already used")


def _set_shares(session: Session, collection: Collection, shares: list[dict[str, Any]]) -> None:
    by_user = {s["user_id"]: s["permission"] for s in shares}
    found = set(session.scalars(sa.select(User.id).where(User.id.in_(by_user))))
    missing = sorted(set(by_user) - found)
    if missing:
        raise Invalid("a share names an unknown user", {"shares": [f"no user with id {missing}"]})
    current = {s.user_id: s for s in collection.shares}
    collection.shares = [
        current[u] if u in current else CollectionShare(user_id=u, permission=p)
        for u, p in by_user.items()
    ]
    for share in collection.shares:
        share.permission = by_user[share.user_id]


def create(session: Session, user: User, data: dict[str, Any]) -> Collection:
    if user.status != Status.ACTIVE:
        raise Forbidden("your account is not verified yet: you can only read")
    begin_write(session)
    _ensure_free(session, data["collection_id"], None)
    collection = Collection(
        collection_id=data["collection_id"],
        title=data["title"],
        description=data["description"],
        created_by_id=user.id,
    )
    session.add(collection)
    _set_shares(session, collection, data["shares"])
    session.commit()
    return collection


def update(
    session: Session, user: User, collection: Collection, data: dict[str, Any]
) -> Collection:
    """Change a collection loaded with ``write=True``; only its owner (or an admin)
    changes who it is shared with."""
    if "shares" in data:
        require_owner(user, collection, "change who it is shared with")
    if "collection_id" in data:
        _ensure_free(session, data["collection_id"], collection)
        collection.collection_id = data["collection_id"]
    for key in ("title", "description"):
        if key in data:
            setattr(collection, key, data[key])
    if "shares" in data:
        _set_shares(session, collection, data["shares"])
    count_up(collection, "version")
    collection.updated_at = utcnow()
    session.commit()
    return collection


def delete(session: Session, user: User, collection: Collection) -> None:
    """Delete a collection loaded with ``write=True`` (its owner or an admin); its items
    stay (only the grouping goes)."""
    require_owner(user, collection, "delete it")
    session.delete(collection)
    session.commit()
