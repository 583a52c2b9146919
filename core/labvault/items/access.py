"""Who may read and write which items, as SQL conditions (so lists filter in the database).

- creators read and write their items;
- a collection's owner and the people it is shared with read its items (and write them
  with a ``write`` share or as owner);
- starting materials and equipment are lab-wide: every active user reads and writes them;
- managers read everything; admins read and write everything;
- unverified users get no further than their own account (403); deactivated and
  anonymous users never get here (401).

Nothing a user may not see shows through: an item_id is taken only among the items the
user may know of (:func:`known`), and a user id names someone only to who may see them
(:func:`seen_users`); anything else is answered as if it did not exist.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labvault.auth.models import Role, Status, User
from labvault.collections import service as collections
from labvault.collections.models import Collection, CollectionShare, collection_items
from labvault.items import types
from labvault.items.models import Item, item_creators

# The per-item conditions are scalar subqueries correlated with the item's row, probed
# per row through the primary keys ("(SELECT ... LIMIT 1) IS NOT NULL"). Not
# "items.id IN (SELECT ...)": SQLite builds such a list in full (every item the user ever
# created) each time a statement needs it, even to check one item or fill one page. Nor
# EXISTS: PostgreSQL turns a correlated EXISTS under OR into a hashed subplan, the set of
# every item the user created (25,000 rows at 100,000 items, 11 ms) built before the
# first row of a page, and MariaDB plans it as a dependent "unique_subquery" that costs
# ~0.1 ms a row; a scalar subquery is probed per row on all three, so a list stops after
# its page (page 1 at 100,000 items, the SQL alone: PostgreSQL 17 -> 0.7 ms, MariaDB
# 14 -> 0.8 ms; SQLite unchanged at 0.1 ms).


def _any_row(query: sa.Select[Any]) -> sa.ColumnElement[bool]:
    """Whether ``query`` (correlated with the item's row) finds a row."""
    return query.limit(1).scalar_subquery().is_not(None)


def _via_collections(user_id: int, *, write: bool) -> sa.ColumnElement[bool]:
    shares = sa.select(CollectionShare.collection_id).where(CollectionShare.user_id == user_id)
    if write:
        shares = shares.where(CollectionShare.permission == "write")
    owned = sa.select(Collection.id).where(Collection.created_by_id == user_id)
    return _any_row(
        sa.select(collection_items.c.item_id).where(
            collection_items.c.item_id == Item.id,
            sa.or_(
                collection_items.c.collection_id.in_(owned),
                collection_items.c.collection_id.in_(shares),
            ),
        )
    )


# Building the condition costs more than running it for one item, and it depends only on
# the user's id; SQL expressions are immutable, so each process builds it once per user.
def _own_or_shared(user_id: int, *, write: bool) -> sa.ColumnElement[bool]:
    return _own_or_shared_with(user_id, types.current().lab_wide, write=write)


@functools.lru_cache(maxsize=1024)
def _own_or_shared_with(
    user_id: int, lab_wide_types: tuple[str, ...], *, write: bool
) -> sa.ColumnElement[bool]:
    created = _any_row(
        sa.select(item_creators.c.item_id).where(
            item_creators.c.item_id == Item.id, item_creators.c.user_id == user_id
        )
    )
    return sa.or_(
        _lab_wide(lab_wide_types),
        created,
        _via_collections(user_id, write=write),
    )


def lab_wide() -> sa.ColumnElement[bool]:
    """Items every user reads (and writes), whatever :func:`readable` says of the rest:
    those of the enabled types that are ``lab_wide``."""
    return _lab_wide(types.current().lab_wide)


@functools.lru_cache(maxsize=16)
def _lab_wide(names: tuple[str, ...]) -> sa.ColumnElement[bool]:
    if not names:
        return sa.false()
    # one bind parameter per type, not an "expanding" one for the list: SQLAlchemy would
    # rewrite the statement's SQL on every run to fit a list of any length (a tenth of the
    # Python of GET item); the database receives the same "type IN (?, ?)"
    return Item.type.in_([sa.literal(name, Item.type.type) for name in names])


def readable(user: User) -> sa.ColumnElement[bool]:
    """Items ``user`` may read."""
    if user.has_role(Role.MANAGER):
        return sa.true()
    return _own_or_shared(user.id, write=False)


def writable(user: User) -> sa.ColumnElement[bool]:
    """Items ``user`` may change."""
    if user.status == Status.UNVERIFIED:
        return sa.false()
    if user.has_role(Role.ADMIN):
        return sa.true()
    return _own_or_shared(user.id, write=True)


def known(user: User) -> sa.ColumnElement[bool]:
    """Items ``user`` may know of: those they read, and those in the trash they may
    restore (``GET /trash``)."""
    return sa.or_(
        sa.and_(Item.deleted_at.is_(None), readable(user)),
        sa.and_(Item.deleted_at.is_not(None), writable(user)),
    )


def seen_users(session: Session, viewer: User, user_ids: Iterable[int]) -> set[int]:
    """Those of ``user_ids`` that ``viewer`` may see, as the API shows people: themself,
    the creators of items they may read, the owners and members of collections they may
    read, and, for admins (who list every user), everyone."""
    wanted = set(user_ids)
    if not wanted:
        return set()
    if viewer.has_role(Role.ADMIN):
        return set(session.scalars(sa.select(User.id).where(User.id.in_(wanted))))
    # aliases: the permission conditions' own subqueries name the plain tables, and
    # would be correlated with these rows otherwise
    creators = item_creators.alias("seen_creators")
    shares = CollectionShare.__table__.alias("seen_shares")
    found = sa.union(
        sa.select(creators.c.user_id)
        .join(Item, Item.id == creators.c.item_id)
        .where(creators.c.user_id.in_(wanted), Item.deleted_at.is_(None), readable(viewer)),
        sa.select(Collection.created_by_id).where(
            Collection.created_by_id.in_(wanted), collections.readable(viewer)
        ),
        sa.select(shares.c.user_id)
        .join(Collection, Collection.id == shares.c.collection_id)
        .where(shares.c.user_id.in_(wanted), collections.readable(viewer)),
    )
    return set(session.scalars(found)) | ({viewer.id} & wanted)


def may_create(user: User) -> bool:
    return user.status == Status.ACTIVE


def check(session: Session, user: User, item: Item, condition: sa.ColumnElement[bool]) -> bool:
    """Whether one loaded item meets a permission condition."""
    found = session.scalar(sa.select(Item.id).where(Item.id == item.id, condition))
    return found is not None
