"""Searching items: each database's search chosen by the engine in use, and a page of
the items a user may read that match a query (``GET /items?q=...``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labvault.auth.models import User
from labvault.items import lists
from labvault.items.models import Item
from labvault.paging import PageRequest, page_of, page_rows
from labvault.search import innodb, mroonga, postgresql, ranking, sqlite
from labvault.search.engines import engine_in_use, is_mysql
from labvault.search.ranking import Ranked, order_by_relevance, window_ranked
from labvault.search.words import WORD, Search, words

SEARCHES: dict[str, tuple[Callable[[sa.Select[Any], list[str], str], Search], re.Pattern[str]]] = {
    "sqlite": (sqlite.search, WORD),
    "mysql": (innodb.search, innodb.WORD),
    "mariadb": (innodb.search, innodb.WORD),
    "postgresql": (postgresql.search, WORD),
}


def _uses_mroonga(bind: sa.Engine | sa.Connection) -> bool:
    return is_mysql(bind) and engine_in_use(bind) == "mroonga"  # type: ignore[arg-type]


def apply_search(
    session: Session,
    query: sa.Select[Any],
    q: str,
    *,
    identifier_prefix: str = "",
    window: int | None = None,
) -> Search:
    """Restrict ``query`` to items matching every word of ``q`` (as prefixes).

    Returns the query and a relevance expression to order by (higher is better).
    ``identifier_prefix`` (IDENTIFIER_PREFIX) starts the refcode of about every item; it
    helps the databases that are slow to look up a word that common. ``window``: only
    that many newest matches are wanted, of a query that filters nothing but what its
    user reads (PostgreSQL then finds them the cheaper way,
    :func:`labvault.search.postgresql.search_newest`).
    """
    bind = session.get_bind()
    search, pattern = SEARCHES[bind.dialect.name]
    if _uses_mroonga(bind):
        mroonga.catch_up(session)
        search, pattern = mroonga.search, WORD
    terms = words(q, pattern)
    if not terms:
        return query.where(sa.false()), sa.cast(sa.null(), sa.Float)  # no constant: PostgreSQL
    if window is not None and bind.dialect.name == "postgresql":
        return postgresql.search_newest(session, query, terms, window)
    return search(query, terms, identifier_prefix.lower())


def ranked_window(
    session: Session,
    query: sa.Select[Any],
    q: str,
    *,
    identifier_prefix: str,
    window: int,
    best: int | None = None,
    reader: User | None = None,
) -> Ranked:
    """The ``best`` (None: all) of the ``window`` newest items of ``query`` that match
    ``q``, best first (:func:`apply_search`, then
    :func:`~labvault.search.ranking.window_ranked`; with Mroonga,
    :func:`labvault.search.mroonga.ranked`).

    ``reader``: the user whose readable items ``query`` lists, when it filters nothing
    else (Mroonga then picks the readable items itself; PostgreSQL may walk the newest
    items, judging by how many match the words alone).
    """
    if _uses_mroonga(session.get_bind()):
        return mroonga.ranked(session, query, q, window=window, best=best, reader=reader)
    searched, relevance = apply_search(
        session,
        query,
        q,
        identifier_prefix=identifier_prefix,
        window=None if reader is None else window,
    )
    return window_ranked(session, searched, relevance, window, best)


def search_page(
    session: Session,
    user: User,
    args: dict[str, Any],
    page: PageRequest,
    *,
    identifier_prefix: str,
) -> list[Item]:
    """A page of the items ``user`` may read that match ``args["q"]``, filtered and
    sorted as :func:`labvault.items.lists.list_page` does.

    A search ranks its newest ``SEARCH_WINDOW`` matches unless ``exact`` asks for all;
    totals are counted as :func:`labvault.paging.page_rows` says.
    """
    query = lists.filtered_query(user, args)
    sort, exact = args.get("sort"), args["exact"]
    if sort in (None, "relevance") and not exact and not args.get("field_sort"):
        window = ranking.SEARCH_WINDOW
        only_readable = not set(args) - lists.UNFILTERED
        ranked = ranked_window(
            session,
            query,
            args["q"],
            identifier_prefix=identifier_prefix,
            window=window,
            best=page.first_item + page.page_size,
            reader=user if only_readable else None,
        )
        ids = page_of(ranked.ids, page, window=window, total=ranked.total)
        # the page is checked once more: Mroonga's copy of who reads an item is
        # written just after the change is committed
        rows = query.where(Item.id.in_(ids)).options(*lists.SUMMARY_ONLY)
        return sorted(session.scalars(rows), key=lambda item: ids.index(item.id))
    query, relevance = apply_search(session, query, args["q"], identifier_prefix=identifier_prefix)
    if args.get("field_sort"):
        query = lists.sorted_by_field(query, *args["field_sort"])
    elif sort in (None, "relevance"):
        query = order_by_relevance(query, relevance)
    else:
        query = lists.sorted_query(query, sort)
    return page_rows(session, query.options(*lists.SUMMARY_ONLY), page, exact=exact)
