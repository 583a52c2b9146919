"""Ranking: a search ranks only its newest ``SEARCH_WINDOW`` matches unless asked for all,
so that a common word costs the same at any database size; best match first, the newest
item first among equals."""

from __future__ import annotations

from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labvault.items.models import Item
from labvault.search import sqlite

#: How many of its newest matches a search ranks (``exact`` ranks them all).
SEARCH_WINDOW = 1000


class Ranked(NamedTuple):
    """The best matches of a search's window, best first, and how many it holds."""

    ids: list[int]
    total: int


def best_first(row: tuple[int, float | None]) -> tuple[float, int]:
    """Best score first; among equals, the newest item."""
    return (-(row[1] or 0.0), -row[0])


def order_by_relevance(query: sa.Select[Any], relevance: Any) -> sa.Select[Any]:
    """Order a searched query best match first, newest first among equals.

    On SQLite by FTS5's rank alone: FTS5 then sorts the matches itself and hands them over
    best first, so the join to items stops after a page instead of sorting every match
    (ties come in FTS5's order).
    """
    if relevance is sqlite.RELEVANCE:
        return query.order_by(sqlite.FTS_RANK)
    return query.order_by(relevance.desc(), Item.updated_at.desc(), Item.id.desc())


def newest_matches(query: sa.Select[Any], relevance: Any, window: int) -> sa.Select[Any]:
    """Id and relevance of the ``window`` newest matches of a searched query."""
    newest = sqlite.FTS_ROWID if relevance is sqlite.RELEVANCE else Item.id
    return query.with_only_columns(Item.id, relevance).order_by(newest.desc()).limit(window)


def newest_ranked(
    session: Session, query: sa.Select[Any], relevance: Any, window: int
) -> list[int]:
    """Ids of the ``window`` newest matches of a searched query, best match first.

    Ranking every match costs in proportion to how many there are: a word in half of
    100,000 items takes 60 ms to rank on SQLite, 250 ms on MariaDB. The newest matches
    come from the index in id order (FTS5 hands them over newest first) and stop at the
    window, so a page costs about the same at any size; their ids and scores are ranked
    here (ties: the newest item first), and one query reads the page.
    """
    found = list(session.execute(newest_matches(query, relevance, window)))
    found.sort(key=best_first)
    return [row[0] for row in found]
