"""Full-text search over items (name, item_id, refcode, description, type-specific text).

The items service keeps two texts per item (:mod:`labvault.items.texts`):
``search_title`` (name, item_id, refcode) and ``search_body`` (description, type-specific
text, constituent names). Each database searches them with its own index (``ddl``):

- SQLite: an FTS5 table, ranked with bm25 (``sqlite``);
- PostgreSQL: a generated, weighted tsvector column with a GIN index, ranked with
  ts_rank (``postgresql``);
- MariaDB/MySQL: InnoDB FULLTEXT in boolean mode (``innodb``); or, where the server has
  it, Mroonga over a copy of the words (``mroonga_copy``), searched era by era by who
  reads them (``mroonga``, ``access``). ``engines`` says which engine searches a
  database; ``mariadb`` builds the objects of the one to use.

``words`` is the query language (every word of a query matches the start of a word of
the item); ``ranking`` ranks a search's newest ``SEARCH_WINDOW`` matches; ``service``
picks each database's search and pages through the matches. The names below are what
the rest of labvault uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labvault.search.ddl import add_to_metadata, is_search_object
    from labvault.search.engines import (
        ENGINE_NAMES,
        engine_in_use,
        mroonga_available,
        search_engine_name,
    )
    from labvault.search.freshness import keep_search_fresh
    from labvault.search.mariadb import drop_mroonga, ensure
    from labvault.search.mroonga_copy import index_pending, reindex
    from labvault.search.service import search_page
    from labvault.search.sqlite import indexed_at_the_end, indexed_by_batch

#: Where each name below is defined. They are imported on first use (PEP 562): every
#: process registers the listeners of ``freshness``, and one that never searches (a CLI
#: command) does without the engines, the service and the models they read.
_MODULES = {
    "ENGINE_NAMES": "engines",
    "add_to_metadata": "ddl",
    "drop_mroonga": "mariadb",
    "engine_in_use": "engines",
    "ensure": "mariadb",
    "index_pending": "mroonga_copy",
    "indexed_at_the_end": "sqlite",
    "indexed_by_batch": "sqlite",
    "is_search_object": "ddl",
    "keep_search_fresh": "freshness",
    "mroonga_available": "engines",
    "reindex": "mroonga_copy",
    "search_engine_name": "engines",
    "search_page": "service",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "ENGINE_NAMES",
    "add_to_metadata",
    "drop_mroonga",
    "engine_in_use",
    "ensure",
    "index_pending",
    "indexed_at_the_end",
    "indexed_by_batch",
    "is_search_object",
    "keep_search_fresh",
    "mroonga_available",
    "reindex",
    "search_engine_name",
    "search_page",
]
