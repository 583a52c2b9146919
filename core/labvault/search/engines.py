"""Which full-text engine searches items: SQLite's FTS5, PostgreSQL's GIN index or, on
MariaDB, Mroonga when its copy of the texts is built (:mod:`labvault.search.mariadb`),
else InnoDB FULLTEXT."""

from __future__ import annotations

import weakref

import sqlalchemy as sa

from labvault.search.ddl import SEARCH_TABLE

#: The engine names /info and `labvault config check` report.
ENGINE_NAMES = {
    "sqlite": "sqlite-fts5",
    "postgresql": "postgresql-gin",
    "innodb": "mariadb-innodb-fulltext",
    "mroonga": "mariadb-mroonga",
}

#: The engine each database searches with, found on first use (``remember`` updates it).
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


def engine_in_use(engine: sa.Engine) -> str:
    """``sqlite``, ``postgresql``, ``innodb`` or ``mroonga``: how items are searched."""
    if not is_mysql(engine):
        return engine.dialect.name
    found = _in_use.get(engine)
    if found is None:
        found = "mroonga" if mroonga_table(engine) else "innodb"
        _in_use[engine] = found
    return found


def remember(engine: sa.Engine, name: str | None) -> None:
    """Note the engine ``engine`` searches with now (None: find it again on next use)."""
    if name is None:
        _in_use.pop(engine, None)
    else:
        _in_use[engine] = name


def search_engine_name(engine: sa.Engine) -> str:
    """The engine's name for people (/info); "unknown" while the database cannot say."""
    try:
        return ENGINE_NAMES[engine_in_use(engine)]
    except sa.exc.SQLAlchemyError:
        return "unknown"


def mroonga_table(engine: sa.Engine) -> bool:
    with engine.connect() as connection:
        return has_mroonga_table(connection)


def has_mroonga_table(connection: sa.Connection) -> bool:
    """Whether the search table is there, a Mroonga table (what ``ensure`` built)."""
    return (_table_engine(connection, SEARCH_TABLE) or "").lower() == "mroonga"
