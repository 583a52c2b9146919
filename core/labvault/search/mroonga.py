"""MariaDB with Mroonga: searching Mroonga's copy of the texts
(:mod:`labvault.search.mroonga_copy`), era by era (:func:`ranked`)."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labvault.auth.models import User
from labvault.items.models import Item
from labvault.search import access, mroonga_copy
from labvault.search.ddl import PENDING_TABLE, SEARCH_TABLE
from labvault.search.ranking import Ranked, best_first
from labvault.search.words import TITLE_WEIGHT, WORD, Search, fold, words

#: Mroonga's copy of the items' texts.
COPY = sa.table(
    SEARCH_TABLE,
    sa.column("item_id"),
    sa.column("title"),
    sa.column("body"),
    sa.column("access"),
)
#: The columns Mroonga's index covers.
_COLUMNS = (COPY.c.title, COPY.c.body, COPY.c.access)
#: The notes of items whose texts are still to be copied (:mod:`labvault.search.mroonga_copy`).
PENDING = sa.table(PENDING_TABLE, sa.column("item_id"))
#: The eras a search reads first: the newest (a few ids, just begun) and the one before.
FIRST_ERAS = 2
#: How many access words a search may ask for at once; past it, the older eras are read
#: as :func:`_checked` does.
MAX_ACCESS_WORDS = 400
#: How many of Mroonga's newest hits a search first checks per match it ranks (an
#: ordinary user reads about half of a lab's items).
HITS_PER_MATCH = 4


def catch_up(session: Session) -> int | None:
    """Copy the texts committed but not copied yet (a writer killed after its commit)
    before a search; the newest item id of the copy (None: it is empty)."""
    return _first_look(session, None)[0]


def _first_look(
    session: Session, reader: User | None
) -> tuple[int | None, list[str | None] | None]:
    """:func:`catch_up`, and ``reader``'s reasons to read (None: no reader).

    One statement on the search's own connection when nothing is noted (the usual case:
    writers copy their own notes after their commit): the newest id of the copy, whether
    anything is noted and the collections ``reader`` reads. Copying first took a
    connection of its own and five round trips. A note committed after this transaction
    began is of a change it does not see.
    """
    ordinary = reader is not None and not access.reads_everything(reader)
    look = _look(reader if ordinary else None)
    rows = session.execute(look).all()
    if any(kind == "noted" and value is not None for kind, value in rows):
        engine = session.get_bind()
        mroonga_copy.index_pending_or_leave(engine, limit=None, when="before a search")  # type: ignore[arg-type]
        rows = session.execute(look).all()
    newest = next(value for kind, value in rows if kind == "newest")
    if reader is None:
        return newest, None
    if not ordinary:
        return newest, [None]
    collections = (int(value) for kind, value in rows if kind == "collection")
    return newest, access.reasons_of(reader, collections)


def _look(reader: User | None) -> sa.CompoundSelect:
    """Rows of (kind, value): the newest id of the copy ("newest"), a noted item or None
    ("noted") and, for ``reader``, each collection whose items they read ("collection")."""
    parts = [
        sa.select(sa.literal("newest"), sa.select(sa.func.max(COPY.c.item_id)).scalar_subquery()),
        sa.select(sa.literal("noted"), sa.select(PENDING.c.item_id).limit(1).scalar_subquery()),
    ]
    if reader is not None:
        collections = access.collections_read(reader).subquery()
        parts.append(sa.select(sa.literal("collection"), collections.c.id))
    return sa.union_all(*parts)


def ranked(
    session: Session,
    query: sa.Select[Any],
    q: str,
    *,
    window: int,
    best: int | None = None,
    reader: User | None = None,
) -> Ranked:
    """:func:`labvault.search.service.ranked_window` with Mroonga.

    ``reader``, when ``query`` filters nothing but what that user may read, lets Mroonga
    pick the readable items itself by the user's reasons to read
    (:func:`labvault.search.access.reasons_of`, :func:`_by_eras`); otherwise Mroonga's
    newest hits are checked against ``query`` (:func:`_checked`).
    """
    newest, reasons = _first_look(session, reader)
    terms = [fold(term) for term in words(q, WORD)]
    if not terms or newest is None:
        return Ranked([], 0)
    if reasons is not None:
        found_by_eras = _by_eras(session, terms, reasons, newest, window, best or window)
        if found_by_eras is not None:
            return found_by_eras
    found = _checked(session, query, terms, window)
    found.sort(key=best_first)
    return Ranked([item_id for item_id, _ in found[:best]], len(found))


def _by_eras(
    session: Session,
    terms: list[str],
    reasons: Sequence[str | None],
    newest: int,
    window: int,
    best: int,
) -> Ranked | None:
    """The ``best`` of the ``window`` newest readable matches, era by era, newest first.

    Groonga finds a word's every hit before it sorts them, so a word in half of 100,000
    items costs 10 ms whatever the LIMIT; asked for the access words of a few eras and
    the query's words, it reads only those eras' items that the user reads. The first
    query reads the newest eras; the next reads as many more as the hits found so far say
    the window still needs (all the rest, when none was found). None: too many eras
    and reasons for one query.
    """
    top = access.era_of(newest)
    found: list[tuple[int, float]] = []
    total = 0
    upper, span = top, FIRST_ERAS
    while upper >= 0 and total < window:
        lower = max(upper - span + 1, 0)
        group = [
            access.access_word(reason, era)
            for era in range(upper, lower - 1, -1)
            for reason in reasons
        ]
        if len(group) > MAX_ACCESS_WORDS:
            return None
        count, rows = _hits(session, terms, reasons, group, window - total, best)
        found, total = sorted(found + rows, key=best_first)[:best], total + count
        read = top - lower + 1  # eras read so far
        upper = lower - 1
        span = math.ceil((window - total) / total * read * 1.25) if total else upper + 1
    return Ranked([item_id for item_id, _ in found], total)


def _hits(
    session: Session,
    terms: list[str],
    reasons: Sequence[str | None],
    group: list[str],
    limit: int,
    best: int,
) -> tuple[int, list[tuple[int, float]]]:
    """How many of the newest ``limit`` items hold every term and one of ``group``'s
    access words, and the ``best`` of them with their relevance (title matches weigh
    TITLE_WEIGHT more, as elsewhere); ranked by the database, so that only those rows
    come back (:func:`_hits_statement`, its words bound here).
    """
    words = {
        "against": _against(terms, group),
        "limit": limit,
        "best": best,
        **{f"term_{n}": f" {term}" for n, term in enumerate(terms)},
        **{f"reason_{n}": f" {access.access_prefix(r)}" for n, r in enumerate(reasons)},
    }
    rows = session.execute(_hits_statement(len(terms), len(reasons)), words).all()
    return (rows[0][2] if rows else 0), [(row[0], float(row[1] or 0.0)) for row in rows]


@functools.lru_cache(maxsize=256)
def _hits_statement(terms: int, reasons: int) -> sa.Select[Any]:
    """:func:`_hits`'s statement for so many terms and reasons, built once per process
    (building it cost 1.5 to 2 ms of Python each time, and a search runs it once or
    twice); the words, the limit and ``best`` are bound when it runs.

    Groonga's score counts the access words too, and it does not weigh prefixes by
    column: the score is corrected in the query, from the row's own words (an item's
    access words all end in its era, so one check per reason finds those counted).
    """
    match = _boolean_match(_COLUMNS, sa.bindparam("against", type_=sa.String))
    words_read = sa.func.concat(" ", COPY.c.access)
    counted = [
        sa.func.sign(sa.func.instr(words_read, sa.bindparam(f"reason_{n}", type_=sa.String)))
        for n in range(reasons)
    ]
    needles = [sa.bindparam(f"term_{n}", type_=sa.String) for n in range(terms)]
    score = match + title_score(COPY.c.title, needles) * TITLE_WEIGHT - sum(counted)
    hits = _newest_hits(match, score, sa.bindparam("limit", type_=sa.Integer))
    return (
        sa.select(hits.c.item_id, hits.c.score, sa.func.count().over())
        .order_by(hits.c.score.desc(), hits.c.item_id.desc())
        .limit(sa.bindparam("best", type_=sa.Integer))
    )


def _newest_hits(match: Any, score: Any, limit: int | sa.BindParameter[int]) -> Any:
    """The ``limit`` newest items of the copy ``match`` finds, with ``score``: a derived
    table Mroonga fills in index order, stopping at the limit (a join to the items would
    make MariaDB read every match first)."""
    return (
        sa.select(COPY.c.item_id.label("item_id"), score.label("score"))
        .where(match)
        .order_by(COPY.c.item_id.desc())
        .limit(limit)
        .subquery("newest_hits")
    )


def title_score(title: Any, needles: Sequence[Any]) -> Any:
    """Mroonga's score of the title alone, in SQL: how many of its words start with a
    term, if every term starts one (``needles``: each term after a space)."""
    text = sa.func.concat(" ", title)
    counts = [
        (sa.func.char_length(text) - sa.func.char_length(sa.func.replace(text, needle, "")))
        / sa.func.char_length(needle)
        for needle in needles
    ]
    return sa.case((sa.and_(*(count > 0 for count in counts)), sum(counts)), else_=0)


def _checked(
    session: Session, query: sa.Select[Any], terms: list[str], window: int
) -> list[tuple[int, float]]:
    """Mroonga's newest hits (:func:`_newest_hits`), each checked against the query's
    filters and permissions until the window is full."""
    both = _match(terms)
    score = _match(terms, title_only=True) * TITLE_WEIGHT + both
    hits = window * HITS_PER_MATCH
    while True:
        newest = _newest_hits(both, score, hits)
        readable = query.with_only_columns(sa.literal(1)).where(Item.id == newest.c.item_id)
        found = [
            (item_id, score_)
            for item_id, score_ in session.execute(
                sa.select(newest.c.item_id, newest.c.score)
                .where(readable.exists())
                .order_by(newest.c.item_id.desc())
                .limit(window)
            )
        ]
        if len(found) == window or not _more_hits_than(session, both, hits):
            return found
        hits *= HITS_PER_MATCH  # few of the hits were readable: look further back


def _more_hits_than(session: Session, both: Any, count: int) -> bool:
    """Whether Mroonga has more than ``count`` hits (reading at most one more)."""
    beyond = sa.select(COPY.c.item_id).where(both).limit(1).offset(count)
    return session.execute(beyond).first() is not None


def _match(terms: list[str], *, title_only: bool = False, access: Sequence[str] = ()) -> Any:
    """MATCH of the copy's columns (of the title alone) in boolean mode: every term as a
    prefix and, if given, one of the ``access`` words."""
    return _boolean_match((COPY.c.title,) if title_only else _COLUMNS, _against(terms, access))


def _against(terms: list[str], access: Sequence[str] = ()) -> str:
    """A boolean-mode query of every term as a prefix and, if given, one of ``access``."""
    # '+' requires a word, '*' makes it a prefix; the words have no other operators.
    # The access words first: Groonga then reads only the terms' hits among their items.
    against = " ".join(f"+{term}*" for term in terms)
    if access:
        against = f"+({' '.join(access)}) {against}"
    return against


def _boolean_match(columns: Sequence[Any], against: Any) -> Any:
    # imported here: the dialect package imports every MySQL driver
    from sqlalchemy.dialects import mysql

    return mysql.match(*columns, against=against).in_boolean_mode()


def search(query: sa.Select[Any], terms: list[str], _identifier_prefix: str) -> Search:
    # Mroonga's copy of the texts, joined to the items: a copy of an item that is gone
    # finds nothing
    terms = [fold(term) for term in terms]
    both = _match(terms)
    title = _match(terms, title_only=True)
    query = query.join(COPY, COPY.c.item_id == Item.id).where(both)
    return query, title * TITLE_WEIGHT + both
