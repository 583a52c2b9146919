"""MariaDB/MySQL without Mroonga: InnoDB FULLTEXT in boolean mode. Words it does not
index, shorter than three letters or stopwords, are checked with REGEXP on the rows the
others found; a hyphenated word is looked up whole, as the texts carry it
(:func:`labvault.items.texts.compounds`)."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from labvault.items.models import Item
from labvault.search.words import TITLE_WEIGHT, Search

#: InnoDB's parser keeps "_" inside words; a query's hyphenated words stay whole (they are
#: looked up as their ``compounds`` form).
WORD = re.compile(r"\w+(?:-\w+)*")
#: InnoDB's defaults: shorter and longer words are not indexed, nor these stopwords
#: (innodb_ft_min_token_size, innodb_ft_max_token_size, INNODB_FT_DEFAULT_STOPWORD).
MIN_WORD, MAX_WORD = 3, 84
_DEFAULT_STOPWORDS = (
    "a about an are as at be by com de en for from how i in is it la of on or that the this "
    "to was what when where who will with und www"
)
STOPWORDS = frozenset(_DEFAULT_STOPWORDS.split())


def _word_start(term: str) -> str:
    # a word boundary as InnoDB sees it ("_" belongs to words); terms are \w+, no escaping
    return f"(?<![[:alnum:]_]){term}"


def search(query: sa.Select[Any], terms: list[str], identifier_prefix: str) -> Search:
    terms = [term.replace("-", "_") for term in terms]  # as ``compounds`` stored them
    # Words InnoDB does not index (short ones, stopwords) cannot be looked up with MATCH;
    # they are matched with REGEXP on the rows the indexed words found (or on every row if
    # the query has only such words: "Li" or "5"; a CAS number like "64-17-5" is one word,
    # "64_17_5").
    unindexed = [
        term for term in terms if not MIN_WORD <= len(term) <= MAX_WORD or term.lower() in STOPWORDS
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
