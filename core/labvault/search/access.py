"""Who reads an item, in words of Mroonga's copy (its ``access`` column).

Groonga reads a word's every hit before it sorts them, so a common word costs more the
more items there are. The copy therefore also holds words no query word can start: the
item's era (its id's upper bits, ``ERA_BITS``) and, per era, why people read it
(lab-wide, its creators, its collections), as :func:`labvault.items.access.readable`
decides it. A search asks for the query's words and the access words of the user's
reasons (:func:`reasons_of`) in the newest eras, then in as many older ones as the
window still needs (:mod:`labvault.search.mroonga`), and Groonga reads only those.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from labvault.auth.models import Role, User
from labvault.collections.models import Collection, CollectionShare

#: Items are grouped in eras of 2**ERA_BITS ids; a search looks at the newest eras first.
ERA_BITS = 12
#: Why people read an item, as labvault.items.access decides it.
LAB_WIDE = "lab"


def era_of(item_id: int) -> int:
    return item_id >> ERA_BITS


def access_word(reason: str | None, era: int) -> str:
    """The word of an era's items read for ``reason`` (None: the era's every item)."""
    return f"{access_prefix(reason)}{era}"


def access_prefix(reason: str | None) -> str:
    """How the words of ``reason`` start, whatever their era."""
    return "_e" if reason is None else f"_{reason}_e"


def creator_reason(user_id: int) -> str:
    return f"u{user_id}"


def collection_reason(collection_id: int) -> str:
    return f"c{collection_id}"


def access_words(
    item_id: int, *, lab_wide: bool, creators: Iterable[int], collections: Iterable[int]
) -> str:
    """The access words of an item: its era's, and per reason to read it."""
    reasons: list[str | None] = [None]
    if lab_wide:
        reasons.append(LAB_WIDE)
    reasons += [creator_reason(user) for user in creators]
    reasons += [collection_reason(c) for c in collections]
    return " ".join(access_word(reason, era_of(item_id)) for reason in reasons)


def reads_everything(user: User) -> bool:
    """Whether ``user`` reads every item (a reason of ``None``: the era's every item)."""
    return user.has_role(Role.MANAGER)


def collections_read(user: User) -> sa.CompoundSelect:
    """Ids of the collections whose items ``user`` reads: theirs and those shared with them."""
    owned = sa.select(Collection.id).where(Collection.created_by_id == user.id)
    shared = sa.select(CollectionShare.collection_id).where(CollectionShare.user_id == user.id)
    return sa.union(owned, shared)


def reasons_of(user: User, collections: Iterable[int]) -> list[str | None]:
    """The reasons of an ordinary ``user`` who reads the items of ``collections``."""
    return [
        LAB_WIDE,
        creator_reason(user.id),
        *(collection_reason(collection) for collection in sorted(collections)),
    ]
