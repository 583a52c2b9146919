"""The database: its engine, its sessions and the rules of writing in them, the column
types and the metadata every table shares, its faults. The ORM is imported when the
first session is made, so a command that reads a row or two with Core (``labvault
audit``, ``labvault backup due``) does without it; :mod:`labvault.db` adds the
declarative base of the models.

SQLite (the embedded default) runs with WAL, foreign keys and a busy timeout; MySQL and
MariaDB connect through PyMySQL with utf8mb4; PostgreSQL URLs work as they are.
"""

from __future__ import annotations

import datetime as dt
import errno
import functools
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url

from labvault.errors import (
    ConfigError,
    DatabaseUnavailable,
    DomainError,
    StorageFull,
    WriteOutsideTransaction,
)

if TYPE_CHECKING:
    from sqlalchemy import orm
    from sqlalchemy.orm import ORMExecuteState, Session

SQLITE_BUSY_TIMEOUT_MS = 30_000


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (MySQL DATETIME has no zone)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; use labvault.db.utcnow()")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


class ExactString(sa.TypeDecorator[str]):
    """A VARCHAR compared character for character on every database, for what is looked
    up by its exact value (email addresses in their normal form, the subjects of
    identities). MariaDB's usual collations compare case, accents and trailing spaces
    away ("Käte " equals "kate"), so a lookup would find another person's row; this
    column takes a binary collation without padding there. SQLite and PostgreSQL's
    deterministic collations compare exactly already."""

    impl = sa.String
    cache_ok = True

    def __init__(self, length: int) -> None:
        super().__init__(length)
        self.length = length

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name in ("mysql", "mariadb"):
            from sqlalchemy.dialects import mysql

            # MySQL's binary collations pad; its NO PAD one is named differently
            collation = "utf8mb4_nopad_bin" if dialect.is_mariadb else "utf8mb4_0900_bin"
            return dialect.type_descriptor(mysql.VARCHAR(self.length, collation=collation))
        return dialect.type_descriptor(sa.String(self.length))


def utcnow() -> dt.datetime:
    # MySQL DATETIME keeps whole seconds unless declared with fsp; keep every backend equal
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


#: Table options for MySQL/MariaDB; a model with ``__table_args__`` of its own adds these.
MYSQL_TABLE_OPTIONS: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}

#: The metadata of every table (``labvault.db.Base.metadata``): a table declared with
#: Core, for commands that read it without the ORM, joins it and is mapped by its model.
METADATA = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def normalize_url(url: str) -> URL:
    """Parse a DATABASE_URL and add the options labvault relies on."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ConfigError([f"DATABASE_URL: not a database URL: {exc}"]) from None
    backend = parsed.get_backend_name()
    if backend == "mysql" or backend == "mariadb":
        if parsed.get_driver_name() in ("", "mysqldb") and parsed.drivername in (
            "mysql",
            "mariadb",
        ):
            parsed = parsed.set(drivername=f"{backend}+pymysql")
        if "charset" not in parsed.query:
            parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    elif backend == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    elif backend not in ("sqlite", "postgresql", "mysql", "mariadb"):
        raise ConfigError([f"DATABASE_URL: unsupported database {backend!r}"])
    return parsed


def _sqlite_pragmas(busy_ms: int) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling would defer BEGIN; let SQLAlchemy emit it
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        _refresh_sqlite_statistics(cursor, busy_ms)
        cursor.close()

    return on_connect


#: ANALYZE again once the items table has grown this many times since the last time.
SQLITE_STATISTICS_GROWTH = 2


def _refresh_sqlite_statistics(cursor: Any, busy_ms: int) -> None:
    """Give SQLite's query planner statistics when it has none, or old ones from a far
    smaller table (checked for each new connection; the check is two index lookups).

    Without them the planner takes ``deleted_at IS NULL`` for a selective condition: to
    show 20 items it reads every live one through that index and sorts them all (0.3 s at
    100,000 items, against 0.1 ms along the ``updated_at`` index). ANALYZE must not wait
    for another connection's write, which may be waiting for this one: busy, it is left
    to the next connection.
    """
    try:
        newest = cursor.execute("SELECT max(rowid) FROM items").fetchone()[0] or 0
    except sqlite3.OperationalError:  # no items table: the schema is not there yet
        return
    try:
        row = cursor.execute("SELECT stat FROM sqlite_stat1 WHERE tbl = 'items'").fetchone()
    except sqlite3.OperationalError:  # never analyzed
        row = None
    analyzed = int(str(row[0]).split()[0]) if row else 0
    if newest <= analyzed * SQLITE_STATISTICS_GROWTH:
        return
    cursor.execute("PRAGMA busy_timeout=0")
    try:
        cursor.execute("ANALYZE")
    except sqlite3.OperationalError:  # locked, or a read-only database
        pass
    finally:
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")


WRITE_OPTION = "labvault_write"


def _sqlite_begin(conn: Any) -> None:
    # A write transaction takes SQLite's write lock up front, so it waits (busy timeout)
    # instead of failing with "database is locked" when another writer got there first.
    if conn.get_execution_options().get(WRITE_OPTION):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        # every request's read starts here: straight to the driver, a third of the time of
        # a statement through SQLAlchemy (a deferred BEGIN takes no lock, so cannot be busy)
        conn.connection.dbapi_connection.execute("BEGIN")


#: MariaDB would turn the EXISTS of the item permissions into IN and materialize it: every
#: item the user created, read before the first row of a page (7.5 ms at 100,000 items and
#: growing with them); checked row by row instead, a page stops after its rows (3.5 ms).
MYSQL_INIT_COMMAND = "SET SESSION optimizer_switch='materialization=off'"


#: How long a connection is waited for when the database does not answer (seconds).
CONNECT_TIMEOUT = 5


#: PostgreSQL session settings. No JIT: the planner's costs of a search over a common
#: word (100,000 items) pass jit_above_cost, and compiling the plan took 50 of its 200 ms
#: to save less than one; labvault's statements are short and many.
POSTGRESQL_OPTIONS = "-c jit=off"


def create_engine(url: str, timeout: float | None = None) -> Engine:
    """An engine for ``url``; ``timeout`` (seconds) bounds every wait of a request.

    With it a statement is stopped after ``timeout`` (by the server; SQLite's busy
    timeout for its write lock), a read from MariaDB or PostgreSQL (psycopg) waits at
    most a second longer, and the pool is waited for as long. Without it (the CLI:
    migrations, backups, imports) only connecting is bounded. Connections are pinged
    before use, so a restarted database is reconnected to.
    """
    parsed = normalize_url(url)
    backend = parsed.get_backend_name()
    options: dict[str, Any] = {"future": True}
    busy_ms = SQLITE_BUSY_TIMEOUT_MS if timeout is None else int(timeout * 1000)
    if backend == "sqlite":
        options["connect_args"] = {"timeout": busy_ms / 1000}
    else:
        options.update(pool_pre_ping=True, pool_recycle=3600)
        if timeout is not None:
            options["pool_timeout"] = timeout
    if backend in ("mysql", "mariadb"):
        init = MYSQL_INIT_COMMAND
        connect: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT}
        if timeout is not None:
            init += f", max_statement_time={timeout:g}"
            connect.update(read_timeout=timeout + 1, write_timeout=timeout + 1)
        options["connect_args"] = {"init_command": init, **connect}
    elif backend == "postgresql":
        connect = {"connect_timeout": CONNECT_TIMEOUT, "options": POSTGRESQL_OPTIONS}
        if timeout is not None:
            connect["options"] += f" -c statement_timeout={int(timeout * 1000)}"
        options["connect_args"] = connect
    engine = sa.create_engine(parsed, **options)
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas(busy_ms))
        event.listen(engine, "begin", _sqlite_begin)
    elif backend == "postgresql" and parsed.get_driver_name() == "psycopg" and timeout is not None:
        event.listen(engine, "do_connect", _psycopg_connect(read_timeout=timeout + 1))
    return engine


def _psycopg_connect(read_timeout: float) -> Callable[..., Any]:
    """A ``do_connect`` hook making psycopg connections that wait for an answer at most
    ``read_timeout`` seconds. A server that is frozen, not down, still accepts TCP (the
    kernel answers), so neither keepalives nor statement_timeout would end the wait."""
    connection_class = _answer_bounded_psycopg_connection()

    def connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        connection = connection_class.connect(*cargs, **cparams)
        connection.read_timeout = read_timeout
        return connection

    return connect


@functools.cache
def _answer_bounded_psycopg_connection() -> type[Any]:
    import psycopg  # the optional "postgresql" extra: only a PostgreSQL URL needs it

    class AnswerBoundedConnection(psycopg.Connection[Any]):
        """A psycopg connection whose waits without a deadline get ``read_timeout``
        (psycopg >= 3.3.6 takes one). Past it the connection is in an unknown state
        (a statement half sent, or an answer half read), so it is closed: SQLAlchemy
        then takes it for a disconnect and the pool drops it."""

        read_timeout: float | None = None

        def wait(
            self, gen: Any, interval: float | None = None, timeout: float | None = None
        ) -> Any:
            deadline = self.read_timeout if timeout is None else timeout
            try:
                if interval is None:
                    return super().wait(gen, timeout=deadline)
                return super().wait(gen, interval, deadline)
            except psycopg.errors._WaitTimeout:
                if timeout is not None:
                    raise  # the caller's own deadline (notifies): psycopg handles it
                self.close()
                raise psycopg.OperationalError(
                    f"the database did not answer within {deadline:g} s"
                ) from None

    return AnswerBoundedConnection


#: OS errors of a full disk (or quota).
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
#: MariaDB's "disk full" and "the table is full"; PostgreSQL's disk_full; SQLITE_FULL.
MYSQL_FULL_ERRORS = frozenset({1021, 1114})
POSTGRESQL_DISK_FULL = "53100"
SQLITE_FULL = 13


def fault_of(error: BaseException) -> DomainError | None:
    """What a failure of the disk or the database means to a client, or None: a full
    disk (the server's or the database's) is 507; a database that cannot be reached,
    did not answer in time, or gave up on a lock is 503 (try again)."""
    if isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS:
        return StorageFull()
    if isinstance(error, sa.exc.DBAPIError):
        if _database_full(error.orig):
            return StorageFull("the database's disk")
        if isinstance(error, sa.exc.OperationalError) or error.connection_invalidated:
            return DatabaseUnavailable()
    if isinstance(error, sa.exc.TimeoutError):  # no connection free in the pool in time
        return DatabaseUnavailable()
    return None


def _database_full(orig: BaseException | None) -> bool:
    args = getattr(orig, "args", ())
    return (
        bool(args and args[0] in MYSQL_FULL_ERRORS and "pymysql" in type(orig).__module__)
        or getattr(orig, "sqlstate", None) == POSTGRESQL_DISK_FULL
        or getattr(orig, "sqlite_errorcode", None) == SQLITE_FULL
    )


class Database:
    """The engine and session factory of one app; its sessions write only inside a
    transaction opened by :func:`begin_write`."""

    def __init__(
        self,
        url: str,
        timeout: float | None = None,
        *,
        sessions: Sequence[Callable[[orm.sessionmaker[Session]], None]] = (),
    ) -> None:
        self.engine = create_engine(url, timeout)
        self._configure_sessions = tuple(sessions)
        self._sessionmaker: orm.sessionmaker[Session] | None = None
        self._lock = threading.Lock()

    @property
    def sessionmaker(self) -> orm.sessionmaker[Session]:
        """The session factory, made on first use and given to each of ``sessions``
        (listeners: versions, search): a command that reads a row with Core alone does
        without the ORM (a fifth of its start)."""
        if self._sessionmaker is None:
            with self._lock:
                if self._sessionmaker is None:
                    self._sessionmaker = self._make_sessionmaker()
        return self._sessionmaker

    def _make_sessionmaker(self) -> orm.sessionmaker[Session]:
        from sqlalchemy import orm

        factory = orm.sessionmaker(self.engine, expire_on_commit=False)
        event.listen(factory, "before_flush", _flush_only_in_write_transaction)
        event.listen(factory, "do_orm_execute", _execute_dml_only_in_write_transaction)
        for configure in self._configure_sessions:
            configure(factory)
        return factory

    def dispose(self) -> None:
        self.engine.dispose()


def begin_write(session: Session) -> None:
    """Start the write transaction of one operation (ending any read before it).

    On SQLite this is BEGIN IMMEDIATE; on servers, rows read for update should also be
    selected ``with_for_update()`` and ``populate_existing``: an object read before,
    in the read that this ends, would otherwise keep what it held then. A write outside
    such a transaction raises :class:`WriteOutsideTransaction`.
    """
    if session.in_transaction():
        if in_write_transaction(session):
            return  # already this operation's write transaction
        session.commit()
    session.connection(execution_options={WRITE_OPTION: True})


def in_write_transaction(session: Session) -> bool:
    return session.in_transaction() and bool(
        session.connection().get_execution_options().get(WRITE_OPTION)
    )


def _flush_only_in_write_transaction(session: Session, _context: Any, _instances: Any) -> None:
    changes = session.new or session.deleted or any(session.is_modified(o) for o in session.dirty)
    if changes and not in_write_transaction(session):
        raise WriteOutsideTransaction(
            "changes flushed outside a write transaction: call begin_write(session) first "
            "(a plugin: host.session(write=True))"
        )


def _execute_dml_only_in_write_transaction(state: ORMExecuteState) -> None:
    dml = state.is_insert or state.is_update or state.is_delete
    if dml and not in_write_transaction(state.session):
        raise WriteOutsideTransaction(
            f"{type(state.statement).__name__} outside a write transaction: "
            "call begin_write(session) first (a plugin: host.session(write=True))"
        )


def database_problem(session: Session) -> str | None:
    """None when the database answers a query, else what went wrong."""
    try:
        session.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        session.rollback()
        return first_line(exc)
    return None


def first_line(error: BaseException) -> str:
    """An error without the statement and parameters SQLAlchemy adds to it (they may
    hold what must not be logged)."""
    orig = getattr(error, "orig", None) or error
    text = str(orig)
    return f"{type(orig).__name__}: {text.splitlines()[0] if text else ''}"
