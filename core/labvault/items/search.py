"""Full-text search over items (name, item_id, refcode, description, type-specific text).

The service keeps two texts per item: ``search_title`` (name, item_id, refcode) and
``search_body`` (description, type-specific text, constituent names). Each database
searches them with its own index (see the DDL in ``labvault.items.models``):

- SQLite: an FTS5 table, ranked with bm25;
- MariaDB/MySQL: InnoDB FULLTEXT in boolean mode (words it does not index, shorter than
  three letters or stopwords, are checked with REGEXP on the rows the others found); or,
  where the server has it, Mroonga over a copy of the words (``labvault.items.fulltext``),
  read era by era (:func:`ranked_window`);
- PostgreSQL: a generated, weighted tsvector column with a GIN index, ranked with ts_rank.

A query is split into words the way the indexes split text: runs of letters and digits,
so "lab:ABCDEF" is "lab" and "abcdef" and "64-17-5" is "64", "17" and "5". Every word must
match the start of a word of the item ("ethan" finds "Ethanol"). Nothing the user types
reaches a query parser except those words, so no input is a syntax error; input without
letters or digits matches nothing. Title matches weigh ``TITLE_WEIGHT`` times body matches.
MariaDB, which indexes no word under three letters, looks a hyphenated word up whole
("64_17_5", see ``compounds``).

A search ranks only its newest ``SEARCH_WINDOW`` matches unless asked for all
(``newest_ranked``), so that a common word costs the same at any database size.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labvault.auth.models import User
from labvault.items import access, fulltext
from labvault.items.models import Item

TITLE_WEIGHT = 10.0

#: Letters and digits (SQLite's unicode61 and PostgreSQL's parser split on "_").
WORD = re.compile(r"[^\W_]+")
#: InnoDB's parser keeps "_" inside words; a query's hyphenated words stay whole (they are
#: looked up as their ``compounds`` form).
INNODB_WORD = re.compile(r"\w+(?:-\w+)*")
#: Hyphenated words: "64-17-5", "S-12", "Li-ion".
COMPOUND = re.compile(r"\w+(?:-\w+)+")
#: InnoDB's defaults: shorter and longer words are not indexed, nor these stopwords
#: (innodb_ft_min_token_size, innodb_ft_max_token_size, INNODB_FT_DEFAULT_STOPWORD).
INNODB_MIN_WORD, INNODB_MAX_WORD = 3, 84
_INNODB_DEFAULT_STOPWORDS = (
    "a about an are as at be by com de en for from how i in is it la of on or that the this "
    "to was what when where who will with und www"
)
INNODB_STOPWORDS = frozenset(_INNODB_DEFAULT_STOPWORDS.split())

Search = tuple[sa.Select[Any], Any]


def compounds(text: str) -> str:
    """The hyphenated words of ``text`` joined with "_" ("64-17-5" gives "64_17_5").

    The search texts carry them besides the words themselves: InnoDB indexes no word
    shorter than three letters, so without them a CAS number or an item_id like "S-12"
    could only be found by reading every item. "_" keeps them one word to InnoDB; the other
    databases split them into the same words again.
    """
    return " ".join(found.replace("-", "_") for found in COMPOUND.findall(text))


def words(q: str, pattern: re.Pattern[str] = WORD) -> list[str]:
    """The distinct words of ``q``, without those another word starts with.

    ("eth Ethanol" needs only "Ethanol": any word starting with it starts with "eth".)
    Case is left to the database, which folds query words as it folds what it indexed.
    """
    found: dict[str, str] = {}
    for word in pattern.findall(unicodedata.normalize("NFC", q)):
        found.setdefault(word.lower(), word)
    return [
        word
        for key, word in found.items()
        if not any(other != key and other.startswith(key) for other in found)
    ]


def apply_search(
    session: Session, query: sa.Select[Any], q: str, *, identifier_prefix: str = ""
) -> Search:
    """Restrict ``query`` to items matching every word of ``q`` (as prefixes).

    Returns the query and a relevance expression to order by (higher is better).
    ``identifier_prefix`` (IDENTIFIER_PREFIX) starts the refcode of about every item; it
    helps the databases that are slow to look up a word that common.
    """
    bind = session.get_bind()
    dialect = bind.dialect.name
    search, pattern = SEARCHES[dialect]
    if fulltext.is_mysql(bind) and fulltext.engine_in_use(bind) == "mroonga":  # type: ignore[arg-type]
        # texts committed but not copied yet (a writer killed after its commit) first
        fulltext.index_pending_or_leave(bind, limit=None, when="before a search")  # type: ignore[arg-type]
        search, pattern = _search_mroonga, WORD
    terms = words(q, pattern)
    if not terms:
        return query.where(sa.false()), sa.cast(sa.null(), sa.Float)  # no constant: PostgreSQL
    return search(query, terms, identifier_prefix.lower())


#: FTS5's rank column: with the constraint ``rank MATCH 'bm25(...)'`` it is that bm25 score.
FTS_RANK: sa.ColumnElement[Any] = sa.literal_column("items_fts.rank")
#: bm25 is lower for better matches; the relevance ``apply_search`` returns on SQLite.
SQLITE_RELEVANCE = -FTS_RANK


def _search_sqlite(query: sa.Select[Any], terms: list[str], _identifier_prefix: str) -> Search:
    # Each word is an FTS5 string (a word has no '"' to escape), so NEAR, AND, ':' or '*'
    # in q are just text; the '*' after the quotes makes it a prefix.
    fts = sa.table("items_fts", sa.column("rowid"))
    match = " ".join(f'"{term}"*' for term in terms)
    query = query.join(fts, fts.c.rowid == Item.id).where(
        sa.literal_column("items_fts").op("MATCH")(match),
        FTS_RANK.op("MATCH")(f"bm25({TITLE_WEIGHT}, 1.0)"),  # column weights: title, body
    )
    return query, SQLITE_RELEVANCE


def order_by_relevance(query: sa.Select[Any], relevance: Any) -> sa.Select[Any]:
    """Order a searched query best match first, newest first among equals.

    On SQLite by FTS5's rank alone: FTS5 then sorts the matches itself and hands them over
    best first, so the join to items stops after a page instead of sorting every match
    (ties come in FTS5's order).
    """
    if relevance is SQLITE_RELEVANCE:
        return query.order_by(FTS_RANK)
    return query.order_by(relevance.desc(), Item.updated_at.desc(), Item.id.desc())


#: How many of its newest matches a search ranks (``exact`` ranks them all).
SEARCH_WINDOW = 1000
FTS_ROWID: sa.ColumnElement[Any] = sa.literal_column("items_fts.rowid")


def newest_matches(query: sa.Select[Any], relevance: Any, window: int) -> sa.Select[Any]:
    """Id and relevance of the ``window`` newest matches of a searched query."""
    newest = FTS_ROWID if relevance is SQLITE_RELEVANCE else Item.id
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
    found.sort(key=_best_first)
    return [row[0] for row in found]


class Ranked(NamedTuple):
    """The best matches of a search's window, best first, and how many it holds."""

    ids: list[int]
    total: int


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
    ``q``, best first (:func:`apply_search`, then :func:`newest_ranked`).

    ``reader``, when ``query`` filters nothing but what that user may read, lets Mroonga
    pick the readable items itself by the user's reasons to read
    (:func:`labvault.items.access.read_reasons`, :func:`_mroonga_by_eras`); otherwise
    Mroonga's newest hits are checked against ``query`` (:func:`_mroonga_checked`).
    """
    bind = session.get_bind()
    if not (fulltext.is_mysql(bind) and fulltext.engine_in_use(bind) == "mroonga"):  # type: ignore[arg-type]
        searched, relevance = apply_search(session, query, q, identifier_prefix=identifier_prefix)
        ids = newest_ranked(session, searched, relevance, window)
        return Ranked(ids[:best], len(ids))
    fulltext.index_pending_or_leave(bind, limit=None, when="before a search")  # type: ignore[arg-type]
    terms = [fulltext.fold(term) for term in words(q, WORD)]
    if not terms:
        return Ranked([], 0)
    if reader is not None:
        reasons = access.read_reasons(session, reader)
        ranked = _mroonga_by_eras(session, terms, reasons, window, best or window)
        if ranked is not None:
            return ranked
    found = _mroonga_checked(session, query, terms, window)
    found.sort(key=_best_first)
    return Ranked([item_id for item_id, _ in found[:best]], len(found))


def _best_first(row: tuple[int, float | None]) -> tuple[float, int]:
    """Best score first; among equals, the newest item."""
    return (-(row[1] or 0.0), -row[0])


#: Mroonga's copy of the items' texts (labvault.items.fulltext).
MROONGA_COPY = sa.table(
    fulltext.SEARCH_TABLE,
    sa.column("item_id"),
    sa.column("title"),
    sa.column("body"),
    sa.column("access"),
)
#: The eras a search reads first: the newest (a few ids, just begun) and the one before.
FIRST_ERAS = 2
#: How many access words a search may ask for at once; past it, the older eras are read
#: as :func:`_mroonga_checked` does.
MAX_ACCESS_WORDS = 400


def _mroonga_by_eras(
    session: Session, terms: list[str], reasons: Sequence[str | None], window: int, best: int
) -> Ranked | None:
    """The ``best`` of the ``window`` newest readable matches, era by era, newest first.

    Groonga finds a word's every hit before it sorts them, so a word in half of 100,000
    items costs 10 ms whatever the LIMIT; asked for the access words of a few eras and
    the query's words, it reads only those eras' items that the user reads. The first
    query reads the newest eras; the next reads as many more as the hits found so far say
    the window still needs (all the rest, when none was found). None: too many eras
    and reasons for one query.
    """
    newest = session.execute(sa.select(sa.func.max(MROONGA_COPY.c.item_id))).scalar()
    if newest is None:
        return Ranked([], 0)
    top = fulltext.era_of(newest)
    found: list[tuple[int, float]] = []
    total = 0
    upper, span = top, FIRST_ERAS
    while upper >= 0 and total < window:
        lower = max(upper - span + 1, 0)
        group = [
            fulltext.access_word(reason, era)
            for era in range(upper, lower - 1, -1)
            for reason in reasons
        ]
        if len(group) > MAX_ACCESS_WORDS:
            return None
        count, rows = _mroonga_hits(session, terms, reasons, group, window - total, best)
        found, total = sorted(found + rows, key=_best_first)[:best], total + count
        read = top - lower + 1  # eras read so far
        upper = lower - 1
        span = math.ceil((window - total) / total * read * 1.25) if total else upper + 1
    return Ranked([item_id for item_id, _ in found], total)


def _mroonga_hits(
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
    come back.

    Groonga's score counts the access words too, and it does not weigh prefixes by
    column: the score is corrected in the query, from the row's own words (an item's
    access words all end in its era, so one check per reason finds those counted).
    """
    copy = MROONGA_COPY
    match = _mroonga_match(terms, access=group)
    access = sa.func.concat(" ", copy.c.access)
    counted = [
        sa.func.sign(sa.func.instr(access, f" {fulltext.access_prefix(r)}")) for r in reasons
    ]
    score = match + title_score(copy.c.title, terms) * TITLE_WEIGHT - sum(counted)
    hits = _newest_hits(match, score, limit)
    rows = session.execute(
        sa.select(hits.c.item_id, hits.c.score, sa.func.count().over())
        .order_by(hits.c.score.desc(), hits.c.item_id.desc())
        .limit(best)
    ).all()
    return (rows[0][2] if rows else 0), [(row[0], float(row[1] or 0.0)) for row in rows]


def _newest_hits(match: Any, score: Any, limit: int) -> Any:
    """The ``limit`` newest items of the copy ``match`` finds, with ``score``: a derived
    table Mroonga fills in index order, stopping at the limit (a join to the items would
    make MariaDB read every match first)."""
    copy = MROONGA_COPY
    return (
        sa.select(copy.c.item_id.label("item_id"), score.label("score"))
        .where(match)
        .order_by(copy.c.item_id.desc())
        .limit(limit)
        .subquery("newest_hits")
    )


def title_score(title: Any, terms: list[str]) -> Any:
    """Mroonga's score of the title alone, in SQL: how many of its words start with a
    term, if every term starts one."""
    text = sa.func.concat(" ", title)
    counts = [
        (sa.func.char_length(text) - sa.func.char_length(sa.func.replace(text, f" {term}", "")))
        / len(f" {term}")
        for term in terms
    ]
    return sa.case((sa.and_(*(count > 0 for count in counts)), sum(counts)), else_=0)


def _mroonga_checked(
    session: Session, query: sa.Select[Any], terms: list[str], window: int
) -> list[tuple[int, float]]:
    """Mroonga's newest hits (:func:`_newest_hits`), each checked against the query's
    filters and permissions until the window is full."""
    both = _mroonga_match(terms)
    score = _mroonga_match(terms, title_only=True) * TITLE_WEIGHT + both
    hits = window * MROONGA_HITS_PER_MATCH
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
        hits *= MROONGA_HITS_PER_MATCH  # few of the hits were readable: look further back


#: How many of Mroonga's newest hits a search first checks per match it ranks (an
#: ordinary user reads about half of a lab's items).
MROONGA_HITS_PER_MATCH = 4


def _more_hits_than(session: Session, both: Any, count: int) -> bool:
    """Whether Mroonga has more than ``count`` hits (reading at most one more)."""
    beyond = sa.select(MROONGA_COPY.c.item_id).where(both).limit(1).offset(count)
    return session.execute(beyond).first() is not None


def _mroonga_match(
    terms: list[str], *, title_only: bool = False, access: Sequence[str] = ()
) -> Any:
    """MATCH of the copy's columns (of the title alone) in boolean mode: every term as a
    prefix and, if given, one of the ``access`` words."""
    # imported here: the dialect package imports every MySQL driver
    from sqlalchemy.dialects import mysql

    copy = MROONGA_COPY
    # '+' requires a word, '*' makes it a prefix; the words have no other operators.
    # The access words first: Groonga then reads only the terms' hits among their items.
    against = " ".join(f"+{term}*" for term in terms)
    if access:
        against = f"+({' '.join(access)}) {against}"
    columns = (copy.c.title,) if title_only else (copy.c.title, copy.c.body, copy.c.access)
    return mysql.match(*columns, against=against).in_boolean_mode()


def _word_start(term: str) -> str:
    # a word boundary as InnoDB sees it ("_" belongs to words); terms are \w+, no escaping
    return f"(?<![[:alnum:]_]){term}"


def _search_innodb(query: sa.Select[Any], terms: list[str], identifier_prefix: str) -> Search:
    terms = [term.replace("-", "_") for term in terms]  # as ``compounds`` stored them
    # Words InnoDB does not index (short ones, stopwords) cannot be looked up with MATCH;
    # they are matched with REGEXP on the rows the indexed words found (or on every row if
    # the query has only such words: "Li" or "5"; a CAS number like "64-17-5" is one word,
    # "64_17_5").
    unindexed = [
        term
        for term in terms
        if not INNODB_MIN_WORD <= len(term) <= INNODB_MAX_WORD or term.lower() in INNODB_STOPWORDS
    ]
    # InnoDB takes ~0.2 s at 100k items to list those with "lab" (from "lab:ABCDEF", when
    # every refcode starts with "lab:"); with other words to find the few candidates, check
    # it on those instead.
    common = [t for t in terms if t not in unindexed and identifier_prefix.startswith(t.lower())]
    if len(common) < len(terms) - len(unindexed):
        unindexed += common
    rank: Any = sa.literal_column("0")
    if unindexed:
        in_title = [Item.search_title.regexp_match(_word_start(term)) for term in unindexed]
        in_body = [Item.search_body.regexp_match(_word_start(term)) for term in unindexed]
        query = query.where(*(sa.or_(*either) for either in zip(in_title, in_body, strict=True)))
        rank = sa.case((sa.and_(*in_title), TITLE_WEIGHT), else_=0.0)
    indexed = [term for term in terms if term not in unindexed]
    if indexed:
        # '+' requires the word, '*' makes it a prefix; words have no other operators
        # imported here: the dialect package imports every MySQL driver
        from sqlalchemy.dialects import mysql

        against = " ".join(f"+{term}*" for term in indexed)
        columns = Item.__table__.c
        both = mysql.match(columns.search_title, columns.search_body, against=against)
        title = mysql.match(columns.search_title, against=against)
        both, title = both.in_boolean_mode(), title.in_boolean_mode()
        query = query.where(both)
        rank = rank + title * TITLE_WEIGHT + both
    return query, rank


def _search_mroonga(query: sa.Select[Any], terms: list[str], _identifier_prefix: str) -> Search:
    # Mroonga's copy of the texts (labvault.items.fulltext), joined to the items: a copy
    # of an item that is gone finds nothing
    copy = MROONGA_COPY
    terms = [fulltext.fold(term) for term in terms]
    both = _mroonga_match(terms)
    title = _mroonga_match(terms, title_only=True)
    query = query.join(copy, copy.c.item_id == Item.id).where(both)
    return query, title * TITLE_WEIGHT + both


def _search_postgresql(query: sa.Select[Any], terms: list[str], _identifier_prefix: str) -> Search:
    # to_tsquery syntax in q cannot get through: words are letters and digits only
    tsquery = sa.func.to_tsquery(
        sa.literal_column("'simple'::regconfig"), " & ".join(f"{term}:*" for term in terms)
    )
    # the generated column PG_SEARCH_VECTOR, indexed by ft_items_search
    vector: sa.ColumnElement[Any] = sa.literal_column("items.search_vector")
    weights: sa.ColumnElement[Any] = sa.literal_column(
        f"'{{0, 0, {1 / TITLE_WEIGHT}, 1}}'::float4[]"
    )  # D C B A
    return query.where(vector.op("@@")(tsquery)), sa.func.ts_rank(weights, vector, tsquery)


SEARCHES: dict[str, tuple[Callable[[sa.Select[Any], list[str], str], Search], re.Pattern[str]]] = {
    "sqlite": (_search_sqlite, WORD),
    "mysql": (_search_innodb, INNODB_WORD),
    "mariadb": (_search_innodb, INNODB_WORD),
    "postgresql": (_search_postgresql, WORD),
}
