"""SQLite: an FTS5 table over the items' texts (:mod:`labvault.search.ddl`), ranked with
bm25."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from labvault.items.models import Item
from labvault.search.ddl import SQLITE_INSERT_TRIGGER
from labvault.search.words import TITLE_WEIGHT, Search

#: FTS5's rank column: with the constraint ``rank MATCH 'bm25(...)'`` it is that bm25 score.
FTS_RANK: sa.ColumnElement[Any] = sa.literal_column("items_fts.rank")
#: bm25 is lower for better matches; the relevance :func:`search` returns.
RELEVANCE = -FTS_RANK
FTS_ROWID: sa.ColumnElement[Any] = sa.literal_column("items_fts.rowid")


def search(query: sa.Select[Any], terms: list[str], _identifier_prefix: str) -> Search:
    # Each word is an FTS5 string (a word has no '"' to escape), so NEAR, AND, ':' or '*'
    # in q are just text; the '*' after the quotes makes it a prefix.
    fts = sa.table("items_fts", sa.column("rowid"))
    match = " ".join(f'"{term}"*' for term in terms)
    query = query.join(fts, fts.c.rowid == Item.id).where(
        sa.literal_column("items_fts").op("MATCH")(match),
        FTS_RANK.op("MATCH")(f"bm25({TITLE_WEIGHT}, 1.0)"),  # column weights: title, body
    )
    return query, RELEVANCE


def _drop_insert_trigger(connection: sa.Connection) -> bool:
    """Drop FTS5's per-row insert trigger, in the caller's transaction; whether there was
    one (no other database has it, nor a snapshot older than the search)."""
    trigger = "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = 'items_fts_insert'"
    if connection.dialect.name != "sqlite" or not connection.exec_driver_sql(trigger).first():
        return False
    connection.exec_driver_sql("DROP TRIGGER items_fts_insert")
    return True


@contextmanager
def indexed_at_the_end(connection: sa.Connection) -> Iterator[None]:
    """Index the items inserted within the block once, at its end, rather than row by
    row (a restore: SQLite's FTS5 trigger made loading 100,000 items 7x slower). The
    rebuild runs without FTS5's automatic merges, which the index has again afterwards:
    the merges FTS5 makes anyway when a level fills up ("crisismerge") leave as few
    segments, and as fast a search, in 40% less time (100,000 items: 11 s, not 19 s). In
    the caller's transaction, so a failure takes the change of triggers back too."""
    if not _drop_insert_trigger(connection):
        yield
        return
    yield
    connection.exec_driver_sql(_SET_AUTOMERGE, (0,))
    connection.exec_driver_sql("INSERT INTO items_fts (items_fts) VALUES ('rebuild')")
    connection.exec_driver_sql(_SET_AUTOMERGE, (FTS5_AUTOMERGE,))
    connection.exec_driver_sql(SQLITE_INSERT_TRIGGER)


#: FTS5's default "automerge" (https://sqlite.org/fts5.html#the_automerge_configuration_option).
FTS5_AUTOMERGE = 4
_SET_AUTOMERGE = "INSERT INTO items_fts (items_fts, rank) VALUES ('automerge', ?)"


def _index_items(connection: sa.Connection, item_ids: Sequence[int]) -> None:
    """Add the texts of these items, inserted since the trigger was dropped, to FTS5."""
    if item_ids:
        connection.execute(_INDEX_ITEMS, {"ids": list(item_ids)})


_INDEX_ITEMS = sa.text(
    "INSERT INTO items_fts (rowid, search_title, search_body) "
    "SELECT id, search_title, search_body FROM items WHERE id IN :ids ORDER BY id"
).bindparams(sa.bindparam("ids", expanding=True))


def _nothing_to_index(_item_ids: Sequence[int]) -> None:
    """Where the database indexes inserted items itself."""


@contextmanager
def indexed_by_batch(connection: sa.Connection) -> Iterator[Callable[[Sequence[int]], None]]:
    """Index the items inserted within the block a batch at a time, rather than row by
    row: the block calls the function it is given with the ids of each batch it inserted
    (an import). One INSERT ... SELECT of a batch costs FTS5 less than half of what its
    per-row trigger does (100,000 items in batches of 500: 2.0 s against 5.1 s of CPU),
    and unlike :func:`indexed_at_the_end` it costs nothing for the items already there.
    In the caller's transaction, so a failure takes the change of triggers back too; the
    items the block does not name are not indexed."""
    if not _drop_insert_trigger(connection):
        yield _nothing_to_index
        return
    yield functools.partial(_index_items, connection)
    connection.exec_driver_sql(SQLITE_INSERT_TRIGGER)
