"""MariaDB: building the search objects of the engine to use, Mroonga when the server
has it (:mod:`labvault.search.mroonga_copy`), else InnoDB FULLTEXT
(:mod:`labvault.search.innodb`). ``labvault db upgrade`` builds them
(``MARIADB_SEARCH_ENGINE`` can insist on one); elsewhere the schema has them already."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from labvault.errors import ConfigError
from labvault.search import engines, mroonga_copy
from labvault.search.ddl import INNODB_INDEXES, MROONGA_DDL, MROONGA_DROP, SEARCH_TABLE


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


def ensure(
    engine: sa.Engine, preference: str = "auto", progress: Callable[[int, int], None] | None = None
) -> str:
    """Build the search objects of the engine to use (MariaDB; elsewhere the schema has
    them already) and return the engine's name. ``preference``: ``auto`` (Mroonga if the
    server has it), ``mroonga`` (required) or ``innodb``."""
    if not engines.is_mysql(engine):
        return engines.engine_in_use(engine)
    with engine.connect() as connection:
        available = engines.mroonga_available(connection)
        # a copy of an earlier layout (no ``access``) is built again
        built = engines.has_mroonga_table(connection) and _has_column(connection, "access")
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
        mroonga_copy.index_pending(engine)  # what was noted while no server worker copied it
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
    used = "mroonga" if use_mroonga else "innodb"
    engines.remember(engine, used)
    if use_mroonga:
        if not built:
            mroonga_copy.reindex(engine, progress)
        with engine.begin() as connection:  # writes no longer pay for InnoDB's index
            for name in indexes:
                connection.execute(sa.text(f"DROP INDEX {name} ON items"))
    return used


def drop_mroonga(engine: sa.Engine) -> None:
    """Remove Mroonga's search objects (before the tables are dropped)."""
    if engines.is_mysql(engine):
        with engine.begin() as connection:
            for statement in MROONGA_DROP:
                connection.execute(sa.text(statement))
        engines.remember(engine, None)
