"""The listeners that keep Mroonga's copy of the items' texts fresh
(:mod:`~labvault.search.mroonga_copy`): they note, in a session, that its transaction
wrote an item, its creators or its collections, and have the copy made once it commits.

Every process registers them on its session factory, including a CLI command that never
writes an item; so this module imports no model and no search engine: they are imported
by the first commit that wrote a noted table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import event

from labvault.search.ddl import ACCESS_TABLES

if TYPE_CHECKING:
    from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

#: ``session.info`` key: the transaction wrote what the copy must follow.
DIRTY = "labvault_items_search_dirty"
#: The tables whose changes the triggers note (an item, its creators, its collections).
NOTED_TABLES = frozenset({"items", *ACCESS_TABLES})
#: The tables of the objects whose flush changes them (a collection's items are its
#: relationship, flushed from the collection's side too).
_FLUSHED_TABLES = frozenset({"items", "collections"})


def keep_search_fresh(factory: sessionmaker[Session]) -> None:
    """Copy the search texts a session's transaction changed once it commits (on MariaDB
    with Mroonga; a no-op elsewhere, where the index is transactional)."""
    event.listen(factory, "after_flush", _note_flush)
    event.listen(factory, "do_orm_execute", _note_statement)
    event.listen(factory, "after_commit", _index_after_commit)
    event.listen(factory, "after_rollback", _forget)


def _note_flush(session: Session, _context: Any) -> None:
    changed = (*session.new, *session.dirty, *session.deleted)
    if any(getattr(o, "__tablename__", None) in _FLUSHED_TABLES for o in changed):
        session.info[DIRTY] = True


def _note_statement(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in NOTED_TABLES:
            state.session.info[DIRTY] = True


def _forget(session: Session) -> None:
    session.info.pop(DIRTY, None)


def _index_after_commit(session: Session) -> None:
    if session.info.get(DIRTY):
        from labvault.search import mroonga_copy

        mroonga_copy.index_after_commit(session)
