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

from typing import TYPE_CHECKING

from labvault.lazy import lazy_names

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
    "ENGINE_NAMES": "labvault.search.engines",
    "add_to_metadata": "labvault.search.ddl",
    "drop_mroonga": "labvault.search.mariadb",
    "engine_in_use": "labvault.search.engines",
    "ensure": "labvault.search.mariadb",
    "index_pending": "labvault.search.mroonga_copy",
    "indexed_at_the_end": "labvault.search.sqlite",
    "indexed_by_batch": "labvault.search.sqlite",
    "is_search_object": "labvault.search.ddl",
    "keep_search_fresh": "labvault.search.freshness",
    "mroonga_available": "labvault.search.engines",
    "reindex": "labvault.search.mroonga_copy",
    "search_engine_name": "labvault.search.engines",
    "search_page": "labvault.search.service",
}


__getattr__ = lazy_names(__name__, _MODULES)

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
