"""SQLite: an FTS5 table over the items' texts (:mod:`labvault.search.ddl`), ranked with
bm25."""

from __future__ import annotations

from collections.abc import Iterator
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


@contextmanager
def indexed_at_the_end(connection: sa.Connection) -> Iterator[None]:
    """Index the items inserted within the block once, at its end, rather than row by
    row (a restore: SQLite's FTS5 trigger made loading 100,000 items 7x slower). In the
    caller's transaction, so a failure takes the change of triggers back too."""
    trigger = "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = 'items_fts_insert'"
    if connection.dialect.name != "sqlite" or not connection.exec_driver_sql(trigger).first():
        yield  # no per-row index to suspend (or a snapshot older than the search)
        return
    connection.exec_driver_sql("DROP TRIGGER items_fts_insert")
    yield
    connection.exec_driver_sql("INSERT INTO items_fts (items_fts) VALUES ('rebuild')")
    connection.exec_driver_sql(SQLITE_INSERT_TRIGGER)
