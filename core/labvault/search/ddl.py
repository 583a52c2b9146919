"""The full-text search objects of each database, as DDL.

Each database searches ``items.search_title`` and ``items.search_body`` with its own index.
None of them fits the portable metadata (an FTS5 virtual table with triggers, FULLTEXT
indexes, a generated tsvector column with a GIN index), so they are created by DDL after
the items table (for ``metadata.create_all``, :func:`add_to_metadata`) and by migration
0003; Alembic's comparison skips them by name (:func:`is_search_object`). On MariaDB with
Mroonga, ``labvault db upgrade`` builds Mroonga's copy of the texts (``MROONGA_DDL``,
:mod:`labvault.search.mariadb`); no migration does.
"""

from __future__ import annotations

import sqlalchemy as sa

#: SQLite: FTS5 over the items table (external content), kept in step by triggers.
#: unicode61 splits on everything but letters and digits and folds case and diacritics.
#: The prefix indexes let a word typed whole or in part, up to ten letters, be read as one
#: list newest first, instead of merging the lists of every word it starts (5 ms for
#: "anneal" at 100,000 items); they double the index (from 46 to 101 MB at 100,000 items).
SQLITE_SEARCH_DDL = (
    """CREATE VIRTUAL TABLE items_fts USING fts5(
    search_title, search_body, content='items', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2', prefix='2 3 4 5 6 7 8 9 10'
)""",
    """CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN
    INSERT INTO items_fts (rowid, search_title, search_body)
    VALUES (new.id, new.search_title, new.search_body);
END""",
    """CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN
    INSERT INTO items_fts (items_fts, rowid, search_title, search_body)
    VALUES ('delete', old.id, old.search_title, old.search_body);
END""",
    """CREATE TRIGGER items_fts_update AFTER UPDATE OF search_title, search_body ON items BEGIN
    INSERT INTO items_fts (items_fts, rowid, search_title, search_body)
    VALUES ('delete', old.id, old.search_title, old.search_body);
    INSERT INTO items_fts (rowid, search_title, search_body)
    VALUES (new.id, new.search_title, new.search_body);
END""",
)
SQLITE_SEARCH_DROP = ("DROP TABLE IF EXISTS items_fts",)
SQLITE_INSERT_TRIGGER = next(ddl for ddl in SQLITE_SEARCH_DDL if "items_fts_insert" in ddl)

#: MariaDB/MySQL: InnoDB FULLTEXT over both columns (what matches) and the title alone
#: (to rank title matches first).
INNODB_INDEXES = {
    "ft_items_search": "CREATE FULLTEXT INDEX ft_items_search ON items (search_title, search_body)",
    "ft_items_search_title": "CREATE FULLTEXT INDEX ft_items_search_title ON items (search_title)",
}
MYSQL_SEARCH_DDL = tuple(INNODB_INDEXES.values())

#: ASCII punctuation but "%" (which the parser splits on anyway, and drivers would escape)
_PUNCTUATION = "!\"#$&'()*+,-./:;<=>?@[\\]^`{|}~"


def _pg_words(column: str) -> str:
    # PostgreSQL's parser keeps "-17", "1.5", "a@b.org" or "b3/2" as single tokens; make
    # ASCII punctuation separate words, as SQLite and MariaDB do, so "17" finds "64-17-5".
    quoted = _PUNCTUATION.replace("'", "''")
    return f"translate({column}, '{quoted}', '{' ' * len(_PUNCTUATION)}')"


#: PostgreSQL: the document searched, title words weighted A and body words B. It is
#: stored (a generated column), not only indexed: ranking reads it for every match, and
#: computing it again for each would take ~0.1 ms a row.
PG_SEARCH_VECTOR = (
    f"setweight(to_tsvector('simple'::regconfig, {_pg_words('search_title')}), 'A') || "
    f"setweight(to_tsvector('simple'::regconfig, {_pg_words('search_body')}), 'B')"
)
PG_SEARCH_DDL = (
    f"ALTER TABLE items ADD COLUMN search_vector tsvector "
    f"GENERATED ALWAYS AS ({PG_SEARCH_VECTOR}) STORED",
    "CREATE INDEX ft_items_search ON items USING gin (search_vector)",
)

# --- MariaDB with Mroonga: a copy of the texts (labvault.search.mroonga_copy) ---------------

SEARCH_TABLE = "items_search"
PENDING_TABLE = "items_search_pending"
#: Tables whose changes decide who reads an item (labvault.items.access): their triggers
#: note the item, so that its ``access`` words are copied again.
ACCESS_TABLES = ("item_creators", "collection_items")


def _note(trigger: str, when: str, table: str, row: str) -> str:
    return (
        f"CREATE TRIGGER {trigger} AFTER {when} ON {table} FOR EACH ROW "
        f"INSERT INTO {PENDING_TABLE} (item_id) VALUES ({row}) "
        "ON DUPLICATE KEY UPDATE item_id = item_id"
    )


MROONGA_DDL = (
    f"""CREATE TABLE {PENDING_TABLE} (
    item_id INTEGER NOT NULL PRIMARY KEY
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    # the copy holds the texts' words as the query splits them (``words_of``), so the
    # index only splits on spaces: a word is found by any start of it, as elsewhere.
    # ``access`` holds words no query word can start ("_"): the item's era and, per era,
    # why people read it (``access_words``), so that Groonga itself picks the newest
    # items a user reads; only items not in the trash are copied.
    f"""CREATE TABLE {SEARCH_TABLE} (
    item_id INTEGER NOT NULL PRIMARY KEY,
    title TEXT NOT NULL,
    body LONGTEXT NOT NULL,
    access TEXT NOT NULL,
    FULLTEXT INDEX ft_items_search (title, body, access)
        COMMENT 'tokenizer "TokenDelimit", normalizer "NormalizerAuto"',
    FULLTEXT INDEX ft_items_search_title (title)
        COMMENT 'tokenizer "TokenDelimit", normalizer "NormalizerAuto"'
) ENGINE=Mroonga DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci""",
    _note("items_search_insert", "INSERT", "items", "NEW.id"),
    f"""CREATE TRIGGER items_search_update AFTER UPDATE ON items FOR EACH ROW
    INSERT INTO {PENDING_TABLE} (item_id)
    SELECT NEW.id FROM DUAL
    WHERE NOT (NEW.search_title <=> OLD.search_title AND NEW.search_body <=> OLD.search_body
               AND NEW.type <=> OLD.type AND NEW.deleted_at <=> OLD.deleted_at)
    ON DUPLICATE KEY UPDATE item_id = item_id""",
    _note("items_search_delete", "DELETE", "items", "OLD.id"),
    *(
        _note(f"{table}_search_{when.lower()}", when, table, f"{row}.item_id")
        for table in ACCESS_TABLES
        for when, row in (("INSERT", "NEW"), ("DELETE", "OLD"))
    ),
)
MROONGA_DROP = (
    *(
        f"DROP TRIGGER IF EXISTS {table}_search_{when}"
        for table in ("items", *ACCESS_TABLES)
        for when in ("insert", "update", "delete")
    ),
    f"DROP TABLE IF EXISTS {SEARCH_TABLE}",
    f"DROP TABLE IF EXISTS {PENDING_TABLE}",
)

#: What the DDL above adds: SQLite's FTS5 table and its shadow tables (the triggers are
#: not compared), MariaDB's and PostgreSQL's indexes and PostgreSQL's column.
SEARCH_OBJECT_NAMES = frozenset(
    {
        "items_fts",
        "items_fts_config",
        "items_fts_data",
        "items_fts_docsize",
        "items_fts_idx",
        *INNODB_INDEXES,
        "search_vector",
        # MariaDB with Mroonga: its copy of the texts and the notes of what to copy
        # (made by `labvault db upgrade`, not by a migration)
        SEARCH_TABLE,
        PENDING_TABLE,
    }
)


def is_search_object(name: str | None) -> bool:
    """Whether a table, column or index belongs to full-text search (made outside metadata)."""
    return name in SEARCH_OBJECT_NAMES


def add_to_metadata(items: sa.FromClause) -> None:
    """Have ``metadata.create_all`` make each database's search objects after the items
    table, and ``drop_all`` drop SQLite's before it."""
    for dialect, statements, event in (
        ("sqlite", SQLITE_SEARCH_DDL, "after_create"),
        ("sqlite", SQLITE_SEARCH_DROP, "before_drop"),
        ("mysql", MYSQL_SEARCH_DDL, "after_create"),
        ("mariadb", MYSQL_SEARCH_DDL, "after_create"),
        ("postgresql", PG_SEARCH_DDL, "after_create"),
    ):
        for statement in statements:
            sa.event.listen(items, event, sa.DDL(statement).execute_if(dialect=dialect))
