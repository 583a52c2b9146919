"""The declarative base of every model, and what writes through models. The database
itself (engine, sessions, the rules of writing in them, column types, the metadata) is
:mod:`labvault.database`'s, which imports no ORM until a session is made; its names are
imported from here as well.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Session

from labvault.database import (
    METADATA,
    MYSQL_TABLE_OPTIONS,
    WRITE_OPTION,
    Database,
    ExactString,
    UTCDateTime,
    begin_write,
    create_engine,
    database_problem,
    fault_of,
    first_line,
    in_write_transaction,
    normalize_url,
    utcnow,
)


class Base(DeclarativeBase):
    __table_args__: Any = MYSQL_TABLE_OPTIONS
    type_annotation_map = {dt.datetime: UTCDateTime()}
    metadata = METADATA


def count_up(row: Base, counter: str) -> None:
    """Add one to ``row``'s counter column in the database, as ``counter = counter + 1``:
    two transactions never take the same number, whatever they read before. The new
    value is read back when next used."""
    setattr(row, counter, getattr(type(row), counter) + 1)


def insert_missing(session: Session, model: type[Base], values: dict[str, Any]) -> None:
    """Insert a row unless one with its primary key exists; in a write, either way.

    On MariaDB this is INSERT ... ON DUPLICATE KEY UPDATE, which takes the row's exclusive
    lock at once: INSERT IGNORE (or catching the duplicate-key error) takes a shared lock,
    which two transactions then both try to upgrade to lock the row for update, and one
    of them is chosen as a deadlock victim.
    """
    # each database's dialect module is imported by its engine (none is imported for
    # another's: PostgreSQL's alone takes a tenth of a CLI command's start)
    dialect = session.get_bind().dialect.name
    if dialect in ("mysql", "mariadb"):
        from sqlalchemy.dialects import mysql

        mysql_insert = mysql.insert(model).values(values)
        key = sa.inspect(model).primary_key[0].name
        statement: Any = mysql_insert.on_duplicate_key_update({key: mysql_insert.inserted[key]})
    elif dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        statement = postgresql.insert(model).values(values).on_conflict_do_nothing()
    else:
        from sqlalchemy.dialects import sqlite

        statement = sqlite.insert(model).values(values).on_conflict_do_nothing()
    session.execute(statement)


__all__ = [
    "METADATA",
    "MYSQL_TABLE_OPTIONS",
    "WRITE_OPTION",
    "Base",
    "Database",
    "ExactString",
    "UTCDateTime",
    "begin_write",
    "count_up",
    "create_engine",
    "database_problem",
    "fault_of",
    "first_line",
    "in_write_transaction",
    "insert_missing",
    "normalize_url",
    "utcnow",
]
