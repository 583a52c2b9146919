"""The query language: the words of a query, and of a text as Mroonga's copy holds them.

A query is split into words the way the indexes split text: runs of letters and digits,
so "lab:ABCDEF" is "lab" and "abcdef" and "64-17-5" is "64", "17" and "5". Every word must
match the start of a word of the item ("ethan" finds "Ethanol"). Nothing the user types
reaches a query parser except those words, so no input is a syntax error; input without
letters or digits matches nothing. Title matches weigh ``TITLE_WEIGHT`` times body matches.
MariaDB, which indexes no word under three letters, looks a hyphenated word up whole
("64_17_5", see :func:`labvault.items.texts.compounds` and :mod:`labvault.search.innodb`).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import sqlalchemy as sa

TITLE_WEIGHT = 10.0

#: Letters and digits (SQLite's unicode61 and PostgreSQL's parser split on "_").
WORD = re.compile(r"[^\W_]+")

#: What each database's search makes of a query: the query restricted to the items that
#: match, and a relevance expression to order by (higher is better).
Search = tuple[sa.Select[Any], Any]


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


def fold(word: str) -> str:
    """A word without case or diacritics ("Éthanol" and "ethanol" are one word), as
    SQLite's unicode61 tokenizer folds them."""
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def words_of(text: str) -> str:
    """The words of ``text``, folded and separated by spaces: what Mroonga indexes."""
    return " ".join(fold(word) for word in WORD.findall(unicodedata.normalize("NFC", text)))
