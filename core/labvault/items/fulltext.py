"""Which full-text engine searches items on MariaDB: Mroonga when the server has it,
else InnoDB FULLTEXT; and Mroonga's search table, kept true to the items.

Mroonga (Groonga for MariaDB) finds a word in 100,000 items in milliseconds where
InnoDB FULLTEXT reads every document holding it, but its tables are not
transactional. So the items' search texts stay in ``items`` (InnoDB), and Mroonga's
table ``items_search`` is a copy written only after a change is committed:

- triggers on ``items``, ``item_creators`` and ``collection_items`` note every item
  inserted, changed, deleted or read by others in ``items_search_pending`` (InnoDB), in
  the writing transaction: a rollback takes the note back with the change, and a commit
  keeps both;
- after its commit, the writer copies the noted items' texts into ``items_search`` and
  removes the notes (:func:`index_pending`), holding the notes' row locks meanwhile, so
  two copies of one item never cross and a later change waits for the note;
- a search first indexes whatever is still noted (a writer killed between its commit
  and the copy leaves its notes), and joins its hits to ``items``: a copy of an item
  that no longer exists matches nothing.

So a search never finds an item by text it does not have, nor misses one that has it.

Groonga reads a word's every hit before it sorts them, so a common word costs more the
more items there are. The copy therefore also holds, in ``access``, words no query word
can start: the item's era (its id's upper bits, ``ERA_BITS``) and, per era, why people
read it (lab-wide, its creators, its collections). A search asks for the query's words
and the access words of the user's reasons in the newest eras, then in as many older
ones as the window still needs (labvault.items.search), and Groonga reads only those.
Items in the trash have no copy.
``labvault search reindex`` rebuilds the copy; ``labvault db upgrade`` builds the objects
of the engine the server offers (``MARIADB_SEARCH_ENGINE`` can insist on one).
"""

from __future__ import annotations

import logging
import re
import unicodedata
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from labvault.collections.models import Collection
from labvault.db import first_line
from labvault.errors import ConfigError
from labvault.items.models import LAB_WIDE_TYPES, SQLITE_SEARCH_DDL, Item

SQLITE_INSERT_TRIGGER = next(ddl for ddl in SQLITE_SEARCH_DDL if "items_fts_insert" in ddl)
SEARCH_TABLE = "items_search"
PENDING_TABLE = "items_search_pending"
#: The engine names /info and `labvault config check` report.
ENGINE_NAMES = {
    "sqlite": "sqlite-fts5",
    "postgresql": "postgresql-gin",
    "innodb": "mariadb-innodb-fulltext",
    "mroonga": "mariadb-mroonga",
}
#: How many noted items one pass of index_pending copies.
BATCH = 500

#: Items are grouped in eras of 2**ERA_BITS ids; a search looks at the newest eras first.
ERA_BITS = 12
#: Tables whose changes decide who reads an item (labvault.items.access): their triggers
#: note the item, so that its ``access`` words are copied again.
_ACCESS_TABLES = ("item_creators", "collection_items")


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
        for table in _ACCESS_TABLES
        for when, row in (("INSERT", "NEW"), ("DELETE", "OLD"))
    ),
)
MROONGA_DROP = (
    *(
        f"DROP TRIGGER IF EXISTS {table}_search_{when}"
        for table in ("items", *_ACCESS_TABLES)
        for when in ("insert", "update", "delete")
    ),
    f"DROP TABLE IF EXISTS {SEARCH_TABLE}",
    f"DROP TABLE IF EXISTS {PENDING_TABLE}",
)
INNODB_INDEXES = {
    "ft_items_search": "CREATE FULLTEXT INDEX ft_items_search ON items (search_title, search_body)",
    "ft_items_search_title": "CREATE FULLTEXT INDEX ft_items_search_title ON items (search_title)",
}

#: The engine each database searches with, found on first use (``ensure`` updates it).
_in_use: weakref.WeakKeyDictionary[sa.Engine, str] = weakref.WeakKeyDictionary()


def is_mysql(engine: sa.Engine | sa.Connection) -> bool:
    return engine.dialect.name in ("mysql", "mariadb")


def mroonga_available(connection: sa.Connection) -> bool:
    support = connection.execute(
        sa.text("SELECT SUPPORT FROM information_schema.ENGINES WHERE ENGINE = 'Mroonga'")
    ).scalar()
    return support in ("YES", "DEFAULT")


def _table_engine(connection: sa.Connection, table: str) -> str | None:
    found = connection.execute(
        sa.text(
            "SELECT ENGINE FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :table"
        ),
        {"table": table},
    ).scalar()
    return None if found is None else str(found)


def _has_column(connection: sa.Connection, column: str) -> bool:
    found = connection.execute(
        sa.text(
            "SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
            "AND TABLE_NAME = :table AND COLUMN_NAME = :column"
        ),
        {"table": SEARCH_TABLE, "column": column},
    ).first()
    return found is not None


def _innodb_indexes(connection: sa.Connection) -> set[str]:
    rows = connection.execute(
        sa.text(
            "SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'items' "
            "AND INDEX_TYPE = 'FULLTEXT'"
        )
    )
    return {row[0] for row in rows}


def engine_in_use(engine: sa.Engine) -> str:
    """``sqlite``, ``postgresql``, ``innodb`` or ``mroonga``: how items are searched."""
    if not is_mysql(engine):
        return engine.dialect.name
    found = _in_use.get(engine)
    if found is None:
        found = "mroonga" if _mroonga_table(engine) else "innodb"
        _in_use[engine] = found
    return found


def search_engine_name(engine: sa.Engine) -> str:
    """The engine's name for people (/info); "unknown" while the database cannot say."""
    try:
        return ENGINE_NAMES[engine_in_use(engine)]
    except sa.exc.SQLAlchemyError:
        return "unknown"


def ensure(
    engine: sa.Engine, preference: str = "auto", progress: Callable[[int, int], None] | None = None
) -> str:
    """Build the search objects of the engine to use (MariaDB; elsewhere the schema has
    them already) and return the engine's name. ``preference``: ``auto`` (Mroonga if the
    server has it), ``mroonga`` (required) or ``innodb``."""
    if not is_mysql(engine):
        return engine_in_use(engine)
    with engine.connect() as connection:
        available = mroonga_available(connection)
        # a copy of an earlier layout (no ``access``) is built again
        built = _has_mroonga_table(connection) and _has_column(connection, "access")
        indexes = _innodb_indexes(connection)
    if preference == "mroonga" and not available:
        raise ConfigError(
            [
                "MARIADB_SEARCH_ENGINE: mroonga, but this MariaDB server has no Mroonga "
                "engine (apt-get install mariadb-plugin-mroonga, then run "
                "INSTALL SONAME 'ha_mroonga' as root)"
            ]
        )
    use_mroonga = available and preference != "innodb"
    if use_mroonga and built:
        index_pending(engine)  # what was noted while no server worker copied it
    with engine.begin() as connection:
        if use_mroonga and not built:
            for statement in MROONGA_DROP + MROONGA_DDL:
                connection.execute(sa.text(statement))
        if not use_mroonga:
            for statement in MROONGA_DROP:
                connection.execute(sa.text(statement))
            for name, statement in INNODB_INDEXES.items():
                if name not in indexes:
                    connection.execute(sa.text(statement))
    _in_use[engine] = "mroonga" if use_mroonga else "innodb"
    if use_mroonga:
        if not built:
            reindex(engine, progress)
        with engine.begin() as connection:  # writes no longer pay for InnoDB's index
            for name in indexes:
                connection.execute(sa.text(f"DROP INDEX {name} ON items"))
    return _in_use[engine]


def drop_mroonga(engine: sa.Engine) -> None:
    """Remove Mroonga's search objects (before the tables are dropped)."""
    if is_mysql(engine):
        with engine.begin() as connection:
            for statement in MROONGA_DROP:
                connection.execute(sa.text(statement))
        _in_use.pop(engine, None)


def index_pending(engine: sa.Engine, limit: int | None = None) -> int:
    """Copy the texts of noted items into the search table; the count copied.

    Notes another connection is copying now are left to it (SKIP LOCKED); ``limit``
    bounds the passes of BATCH notes (None: until none is left). Nothing to do where
    Mroonga does not search."""
    if not is_mysql(engine) or engine_in_use(engine) != "mroonga":
        return 0
    copied = 0
    passes = 0
    while limit is None or passes < limit:
        passes += 1
        done = _index_batch(engine)
        copied += done
        if done < BATCH:
            return copied
    return copied


def _index_batch(engine: sa.Engine) -> int:
    # READ COMMITTED: the texts read are the newest committed, whatever this connection
    # read before; the notes stay locked until the copy is written and they are removed
    options = {"isolation_level": "READ COMMITTED"}
    with engine.connect().execution_options(**options) as connection, connection.begin():
        ids = list(
            connection.execute(
                sa.text(
                    f"SELECT item_id FROM {PENDING_TABLE} ORDER BY item_id "
                    f"LIMIT {BATCH} FOR UPDATE SKIP LOCKED"
                )
            ).scalars()
        )
        if not ids:
            return 0
        _copy(connection, ids)
        connection.execute(
            sa.text(f"DELETE FROM {PENDING_TABLE} WHERE item_id IN :ids").bindparams(
                sa.bindparam("ids", expanding=True)
            ),
            {"ids": ids},
        )
    return len(ids)


#: Letters and digits: the words of a text, as labvault.items.search splits a query.
_WORD = re.compile(r"[^\W_]+")


def fold(word: str) -> str:
    """A word without case or diacritics ("Éthanol" and "ethanol" are one word), as
    SQLite's unicode61 tokenizer folds them."""
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def words_of(text: str) -> str:
    """The words of ``text``, folded and separated by spaces: what Mroonga indexes."""
    return " ".join(fold(word) for word in _WORD.findall(unicodedata.normalize("NFC", text)))


def era_of(item_id: int) -> int:
    return item_id >> ERA_BITS


def access_word(reason: str | None, era: int) -> str:
    """The word of an era's items read for ``reason`` (None: the era's every item)."""
    return f"{access_prefix(reason)}{era}"


def access_prefix(reason: str | None) -> str:
    """How the words of ``reason`` start, whatever their era."""
    return "_e" if reason is None else f"_{reason}_e"


#: Why people read an item, as labvault.items.access decides it.
LAB_WIDE = "lab"


def creator_reason(user_id: int) -> str:
    return f"u{user_id}"


def collection_reason(collection_id: int) -> str:
    return f"c{collection_id}"


def _by_id(connection: sa.Connection, sql: str, ids: list[int]) -> dict[int, list[Any]]:
    found: dict[int, list[Any]] = {}
    rows = connection.execute(
        sa.text(sql).bindparams(sa.bindparam("ids", expanding=True)), {"ids": ids}
    )
    for item_id, value in rows:
        found.setdefault(item_id, []).append(value)
    return found


def _copy(connection: sa.Connection, ids: Sequence[int]) -> None:
    """Make the search table's rows of ``ids`` what ``items`` and the tables deciding
    who reads them hold now (items in the trash have no row)."""
    ids = list(ids)
    texts = connection.execute(
        sa.text(
            "SELECT id, search_title, search_body, type FROM items "
            "WHERE id IN :ids AND deleted_at IS NULL"
        ).bindparams(sa.bindparam("ids", expanding=True)),
        {"ids": ids},
    ).all()
    present = {row[0] for row in texts}
    gone = [item_id for item_id in ids if item_id not in present]
    if gone:
        connection.execute(
            sa.text(f"DELETE FROM {SEARCH_TABLE} WHERE item_id IN :ids").bindparams(
                sa.bindparam("ids", expanding=True)
            ),
            {"ids": gone},
        )
    if not texts:
        return
    live = sorted(present)
    creators = _by_id(
        connection, "SELECT item_id, user_id FROM item_creators WHERE item_id IN :ids", live
    )
    collections = _by_id(
        connection,
        "SELECT item_id, collection_id FROM collection_items WHERE item_id IN :ids",
        live,
    )
    lab_wide = {str(item_type) for item_type in LAB_WIDE_TYPES}

    def access(item_id: int, item_type: str) -> str:
        reasons: list[str | None] = [None]
        if item_type in lab_wide:
            reasons.append(LAB_WIDE)
        reasons += [creator_reason(user) for user in creators.get(item_id, ())]
        reasons += [collection_reason(c) for c in collections.get(item_id, ())]
        return " ".join(access_word(reason, era_of(item_id)) for reason in reasons)

    connection.execute(
        sa.text(
            f"REPLACE INTO {SEARCH_TABLE} (item_id, title, body, access) "
            "VALUES (:id, :title, :body, :access)"
        ),
        [
            {
                "id": i,
                "title": words_of(title or ""),
                "body": words_of(body or ""),
                "access": access(i, item_type),
            }
            for i, title, body, item_type in texts
        ],
    )


def reindex(engine: sa.Engine, progress: Callable[[int, int], None] | None = None) -> int:
    """Copy every item's texts into the search table again (MariaDB with Mroonga), then
    remove copies of items that are gone; the items copied. Every item is noted and the
    notes are copied as a writer's are (under their locks), so a change committed
    meanwhile is never overwritten by an older text; searches keep working throughout."""
    if not _mroonga_table(engine):
        return 0
    with engine.connect() as connection:
        total = connection.execute(sa.text("SELECT COUNT(*) FROM items")).scalar() or 0
    last, done = 0, 0
    while True:
        with engine.begin() as connection:
            ids = list(
                connection.execute(
                    sa.text(f"SELECT id FROM items WHERE id > :last ORDER BY id LIMIT {BATCH}"),
                    {"last": last},
                ).scalars()
            )
            if not ids:
                break
            connection.execute(
                sa.text(
                    f"INSERT INTO {PENDING_TABLE} (item_id) VALUES (:id) "
                    "ON DUPLICATE KEY UPDATE item_id = item_id"
                ),
                [{"id": item_id} for item_id in ids],
            )
        index_pending(engine)
        last, done = ids[-1], done + len(ids)
        if progress:
            progress(len(ids), total)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                f"DELETE s FROM {SEARCH_TABLE} s LEFT JOIN items i ON i.id = s.item_id "
                "WHERE i.id IS NULL"
            )
        )
    return done


def _mroonga_table(engine: sa.Engine) -> bool:
    with engine.connect() as connection:
        return _has_mroonga_table(connection)


def _has_mroonga_table(connection: sa.Connection) -> bool:
    """Whether the search table is there, a Mroonga table (what ``ensure`` built)."""
    return (_table_engine(connection, SEARCH_TABLE) or "").lower() == "mroonga"


@contextmanager
def indexed_at_the_end(connection: sa.Connection) -> Iterator[None]:
    """Index the items inserted within the block once, at its end, rather than row by
    row (a restore: SQLite's FTS5 trigger made loading 100,000 items 7x slower). In the
    caller's transaction, so a failure takes the change of triggers back too."""
    trigger = "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = 'items_fts_insert'"
    if connection.dialect.name != "sqlite" or not connection.exec_driver_sql(trigger).first():
        yield  # no per-row index to suspend (or a snapshot older than the search)
        return
    connection.exec_driver_sql("DROP TRIGGER items_fts_insert")
    yield
    connection.exec_driver_sql("INSERT INTO items_fts (items_fts) VALUES ('rebuild')")
    connection.exec_driver_sql(SQLITE_INSERT_TRIGGER)


# --- after a commit -----------------------------------------------------------------------

_DIRTY = "labvault_items_search_dirty"
LOG = logging.getLogger("labvault.search")


def keep_search_fresh(factory: sessionmaker[Session]) -> None:
    """Copy the search texts a session's transaction changed once it commits (on MariaDB
    with Mroonga; a no-op elsewhere, where the index is transactional)."""
    event.listen(factory, "after_flush", _note_flush)
    event.listen(factory, "do_orm_execute", _note_statement)
    event.listen(factory, "after_commit", _index_after_commit)
    event.listen(factory, "after_rollback", _forget)


#: The tables whose changes the triggers note (an item, its creators, its collections).
_NOTED_TABLES = frozenset({"items", *_ACCESS_TABLES})


def _note_flush(session: Session, _context: Any) -> None:
    # an item written (its creators and collections are its relationships), or a
    # collection's items changed from the collection's side
    changed = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(o, Item | Collection) for o in changed):
        session.info[_DIRTY] = True


def _note_statement(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in _NOTED_TABLES:
            state.session.info[_DIRTY] = True


def _forget(session: Session) -> None:
    session.info.pop(_DIRTY, None)


def _index_after_commit(session: Session) -> None:
    if not session.info.pop(_DIRTY, False):
        return
    engine = session.get_bind()
    if not isinstance(engine, sa.Engine) or engine_in_use(engine) != "mroonga":
        return
    index_pending_or_leave(engine, limit=1, when="after a commit")


def index_pending_or_leave(engine: sa.Engine, *, limit: int | None, when: str) -> None:
    """:func:`index_pending`, but a copy that fails (a deadlock between two copies and a
    writer's note, a lock waited for too long) only leaves its notes, for the next one;
    the writer's commit or the search goes on."""
    try:
        index_pending(engine, limit=limit)
    except sa.exc.OperationalError as error:
        LOG.warning(
            "search texts not copied %s (left for the next copy): %s", when, first_line(error)
        )
