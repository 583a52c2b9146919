"""PostgreSQL: a generated, weighted tsvector column with a GIN index
(:mod:`labvault.search.ddl`), ranked with ts_rank; a search's window of newest matches
found the cheaper of two ways (:func:`search_newest`)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labvault.search.words import TITLE_WEIGHT, Search

#: Finding a match through the GIN index (the postings of its words, its row, the
#: permission check) costs about as much as checking this many rows walked newest first
#: (measured at 100,000 items: 4.5 us a match, 0.8 us a row walked).
INDEX_COST = 5
#: About the share of the items an ordinary user reads (bench/api.py's user: 55%).
READ_SHARE = 0.5

# the generated column PG_SEARCH_VECTOR, indexed by ft_items_search
_VECTOR: sa.ColumnElement[Any] = sa.literal_column("items.search_vector")


def _tsquery(terms: list[str]) -> str:
    # to_tsquery syntax in q cannot get through: words are letters and digits only
    return " & ".join(f"{term}:*" for term in terms)


def _to_tsquery(tsquery: str) -> sa.ColumnElement[Any]:
    return sa.func.to_tsquery(sa.literal_column("'simple'::regconfig"), tsquery)


def _match(tsquery: str) -> sa.ColumnElement[bool]:
    return _VECTOR.op("@@")(_to_tsquery(tsquery))


def _relevance(tsquery: str) -> sa.ColumnElement[Any]:
    weights: sa.ColumnElement[Any] = sa.literal_column(
        f"'{{0, 0, {1 / TITLE_WEIGHT}, 1}}'::float4[]"
    )  # D C B A
    return sa.func.ts_rank(weights, _VECTOR, _to_tsquery(tsquery))


def search(query: sa.Select[Any], terms: list[str], _identifier_prefix: str) -> Search:
    tsquery = _tsquery(terms)
    return query.where(_match(tsquery)), _relevance(tsquery)


def search_newest(session: Session, query: sa.Select[Any], terms: list[str], window: int) -> Search:
    """:func:`search` for a window of the ``window`` newest matches, found the cheaper way.

    The GIN index finds every match before the newest are picked, and a word typed in
    part (every query word is a prefix) costs it every posting of every word it starts:
    "cathode powder", in a tenth of 100,000 items, took 45 to 100 ms. Walking the items
    newest first and checking each row's vector stops at the window's last match: 16 to
    22 ms there, but 70 ms for a word in 1.5% of them. PostgreSQL's planner estimates the
    index far cheaper than that and picks it for such common words too; its estimate of
    the matches is good, though (9,481 for 10,789). So the search asks for it (one
    EXPLAIN, ~0.2 ms) and walks when the rows to walk for the window, at ``READ_SHARE``
    of them readable, cost less than the matches through the index; the condition is
    then written so that the index cannot serve it (``IS true``, the same rows).
    ``query`` filters nothing but what the user reads: the estimate is of the words alone.
    Reading the matches' ids through the index first (a MATERIALIZED CTE) and checking
    them newest first costs more than either (100,000 items, "cathode powder", backend
    CPU a search: 69 ms, the index as the planner uses it 49 ms, walking 20 ms): the
    index's bitmap of the two prefixes alone takes 16 ms, before any row is read.
    """
    tsquery = _tsquery(terms)
    match = _match(tsquery)
    matches, rows = _estimates(session, tsquery)
    walked = window / READ_SHARE * rows / max(matches, 1.0)
    if walked < INDEX_COST * matches:
        return query.where(match.is_(sa.true())), _relevance(tsquery)
    return query.where(match), _relevance(tsquery)


def _estimates(session: Session, tsquery: str) -> tuple[float, float]:
    """The planner's estimates of the items ``tsquery`` finds and of all items."""
    plan = session.execute(_ESTIMATES, {"tsquery": tsquery}).scalar_one()[0]["Plan"]
    matched = float(plan["Plans"][0]["Plan Rows"])
    return matched, float(plan["Plan Rows"]) - matched


_ESTIMATES = sa.text(
    "EXPLAIN (FORMAT JSON) SELECT 1 FROM items WHERE search_vector @@ "
    "to_tsquery('simple'::regconfig, :tsquery) UNION ALL SELECT 1 FROM items"
)
