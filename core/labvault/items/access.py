"""Who may read and write which items, as SQL conditions (so lists filter in the database).

- creators read and write their items;
- a collection's owner and the people it is shared with read its items (and write them
  with a ``write`` share or as owner);
- starting materials and equipment are lab-wide: every active user reads and writes them;
- managers read everything; admins read and write everything;
- unverified users only read; deactivated and anonymous users never get here (401).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labvault.collections.models import Collection, CollectionShare, collection_items
from labvault.items.models import LAB_WIDE_TYPES, Item, item_creators
from labvault.users.models import Role, Status, User


def _via_collections(user: User, *, write: bool) -> sa.ColumnElement[bool]:
    shares = sa.select(CollectionShare.collection_id).where(CollectionShare.user_id == user.id)
    if write:
        shares = shares.where(CollectionShare.permission == "write")
    owned = sa.select(Collection.id).where(Collection.created_by_id == user.id)
    members = sa.select(collection_items.c.item_id).where(
        sa.or_(
            collection_items.c.collection_id.in_(owned),
            collection_items.c.collection_id.in_(shares),
        )
    )
    return Item.id.in_(members)


def _own_or_shared(user: User, *, write: bool) -> sa.ColumnElement[bool]:
    created = sa.select(item_creators.c.item_id).where(item_creators.c.user_id == user.id)
    return sa.or_(
        Item.type.in_([t.value for t in LAB_WIDE_TYPES]),
        Item.id.in_(created),
        _via_collections(user, write=write),
    )


def readable(user: User) -> sa.ColumnElement[bool]:
    """Items ``user`` may read."""
    if user.has_role(Role.MANAGER):
        return sa.true()
    return _own_or_shared(user, write=False)


def writable(user: User) -> sa.ColumnElement[bool]:
    """Items ``user`` may change."""
    if user.status == Status.UNVERIFIED:
        return sa.false()
    if user.has_role(Role.ADMIN):
        return sa.true()
    return _own_or_shared(user, write=True)


def may_create(user: User) -> bool:
    return user.status == Status.ACTIVE


def check(session: Session, user: User, item: Item, condition: sa.ColumnElement[bool]) -> bool:
    """Whether one loaded item meets a permission condition."""
    found = session.scalar(sa.select(Item.id).where(Item.id == item.id, condition))
    return found is not None
