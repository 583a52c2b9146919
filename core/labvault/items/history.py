"""Changes to items that their history must keep, noted where they happen.

Every operation that changes an item (its fields, relationships, blocks or files) calls
:func:`changed` in its transaction. When the transaction commits, the recorder of
:mod:`labvault.versions.recording` bumps the item's version and stores a snapshot of the
item with its blocks and files. The packages that change items (items, files, blocks)
only note the change; the recorder, which reads all of them, sits above them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # every process's recorder reads this module; few change items
    from sqlalchemy.orm import Session

    from labvault.items.models import Item

#: ``session.info`` keys: the changes noted in the current transaction, and whether the
#: session's factory has a recorder (without one, a noted change would be lost).
CHANGES = "labvault.item_changes"
RECORDED = "labvault.versions_recorded"
#: Longest ``action`` the versions table keeps.
MAX_ACTION_LENGTH = 30


@dataclass(frozen=True)
class Change:
    """One change to keep: which item, what was done (``"update"``, ...), by whom."""

    item: Item
    action: str
    user_id: int | None


def changed(session: Session, item: Item, action: str, user_id: int | None) -> None:
    """Note that ``item`` changed in this transaction; a version is kept when it commits."""
    if not session.info.get(RECORDED):
        raise RuntimeError(
            "this session keeps no versions: create it from a sessionmaker given to "
            "labvault.versions.recording.keep_versions"
        )
    if not 0 < len(action) <= MAX_ACTION_LENGTH:
        raise ValueError(f"a version's action is 1 to {MAX_ACTION_LENGTH} characters: {action!r}")
    session.info.setdefault(CHANGES, []).append(Change(item, action, user_id))


def has_changes(session: Session) -> bool:
    """Whether changes were noted since the last :func:`take_changes`."""
    return bool(session.info.get(CHANGES))


def take_changes(session: Session) -> list[Change]:
    """The changes noted since the last call, in the order they were noted."""
    changes: list[Change] = session.info.pop(CHANGES, [])
    return changes
