"""The database as a snapshot keeps it: one JSON-lines part per table, any database.

A part's first line names the table and its columns with a portable kind each
(``integer``, ``text``, ``boolean``, ``float``, ``datetime``, ``date``, ``json_text``);
every further line is one row, a JSON array in the columns' order, rows in primary key
order. Datetimes are ISO 8601 in UTC. A ``json_text`` value is the JSON document's text as
the database stores it, as a string: a restore hands that text to the database as it is
(byte for byte, neither parsed nor serialized again). Parts of older snapshots have
``json`` columns instead, whose values are the documents themselves. So a part written
from SQLite loads into MariaDB or PostgreSQL and back: nothing in it belongs to one
database.

Tables are read and written a batch at a time (memory does not grow with the rows) in
the metadata's dependency order, so a row's references are always loaded before it.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import pickle
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

import sqlalchemy as sa

from labvault.backups.codec import BackupError
from labvault.backups.manifest import ForgedSnapshot, content_entry, identifier
from labvault.db import UTCDateTime

#: Tables a snapshot leaves out: the backups' own state (see BackupState), the
#: installation's id (see Installation) and its jobs (labvault.jobs): work in flight of
#: this server, which a server restored from the snapshot must not take up (the backup
#: being taken, mails to send).
NOT_DUMPED = frozenset({"backup_states", "installation", "jobs"})
READ_BATCH = 2000
#: What a table's fingerprint starts with: a new one makes every table's part anew once.
FINGERPRINT = b"labvault table fingerprint 1\0"
#: Rows per INSERT, and bytes: a batch of large version snapshots stays well under
#: MariaDB's max_allowed_packet (16 MiB by default).
WRITE_BATCH = 1000
WRITE_BATCH_BYTES = 4 << 20

_KIND_TYPES: dict[str, Callable[[], sa.types.TypeEngine[Any]]] = {
    "integer": sa.BigInteger,
    "text": sa.Text,
    "boolean": sa.Boolean,
    "float": sa.Double,
    "datetime": UTCDateTime,
    "date": sa.Date,
    # a document's text goes to the database as it is (the column's own type would
    # serialize it again); ``json`` (older snapshots) holds documents to serialize
    "json_text": sa.Text,
    "json": sa.JSON,
}


def dumped_tables(metadata: sa.MetaData) -> list[sa.Table]:
    """The tables a snapshot holds, each after the tables it refers to."""
    return [table for table in metadata.sorted_tables if table.name not in NOT_DUMPED]


def column_kind(column: sa.Column[Any]) -> str:
    column_type = column.type
    if isinstance(column_type, sa.TypeDecorator) and not isinstance(column_type, UTCDateTime):
        column_type = column_type.impl_instance  # e.g. ExactString: its values are text
    if isinstance(column_type, sa.JSON):
        return "json_text"
    if isinstance(column_type, (UTCDateTime, sa.DateTime)):
        return "datetime"
    if isinstance(column_type, sa.Date):
        return "date"
    if isinstance(column_type, sa.Boolean):
        return "boolean"
    if isinstance(column_type, sa.Integer):
        return "integer"
    if isinstance(column_type, (sa.Float, sa.Numeric)):
        return "float"
    if isinstance(column_type, (sa.String, sa.Enum)):
        return "text"
    raise BackupError(f"column {column} has a type no snapshot can hold: {column_type}")


def _portable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _line(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


class Writable(Protocol):
    def write_lines(self, lines: list[bytes], keys: list[bytes], /) -> None:
        """Write ``lines``; each one's key (its row's primary key) places chunk bounds
        (:mod:`~labvault.backups.chunking`)."""


def write_table(connection: sa.Connection, table: sa.Table, out: Writable) -> int:
    """Write ``table`` as a part to ``out``; returns its row count."""
    query, header = _query(table)
    out.write_lines([_line(header)], [b""])
    keyed = [index for index, column in enumerate(table.columns) if column.primary_key]
    options = connection.execution_options(stream_results=True, yield_per=READ_BATCH)
    count = 0
    for partition in options.execute(query).partitions():
        lines = [_line([_portable(value) for value in row]) for row in partition]
        keys = [_row_key(row, keyed) for row in partition] if keyed else lines
        out.write_lines(lines, keys)
        count += len(partition)
    return count


def table_fingerprint(connection: sa.Connection, table: sa.Table) -> tuple[int, str]:
    """The row count of ``table`` and a sha256 of its rows as the database driver gives
    them (no type of ours converts them), pickled, which loads back as the same values:
    equal fingerprints are equal rows. With the table's columns and the kind of database.
    A fraction of writing the part (no JSON): a snapshot compares it with the previous
    one's, and reuses that part for a table whose rows did not change."""
    query, header = _query(table)
    fingerprint = hashlib.sha256(FINGERPRINT)
    fingerprint.update(_line([connection.dialect.name, header]))
    pickler = pickle.Pickler(_Feed(fingerprint), protocol=5)
    pickler.fast = True  # no memo: the bytes depend on the values alone, and come faster
    sql = str(query.compile(dialect=connection.dialect))
    count = 0
    for rows in _driver_rows(connection, sql):
        pickler.dump([tuple(row) for row in rows])
        count += len(rows)
    return count, fingerprint.hexdigest()


def _driver_rows(connection: sa.Connection, sql: str) -> Iterator[Sequence[Any]]:
    """The rows of the statement ``sql`` as the driver gives them (no type of ours
    converts them), a batch at a time, each read as it comes. On SQLite from the
    driver's own cursor, which steps through the rows as they are fetched: SQLAlchemy's
    rows took a fifth to a third of the fingerprints' time. Elsewhere through
    SQLAlchemy's streaming, whose server-side cursors keep memory flat (PyMySQL's own
    cursor would hold every row)."""
    if connection.dialect.name != "sqlite":
        options = connection.execution_options(stream_results=True, yield_per=READ_BATCH)
        yield from options.exec_driver_sql(sql).partitions(READ_BATCH)
        return
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(READ_BATCH):
            yield rows
    finally:
        cursor.close()


class _Feed:
    """A file that hashes what is written to it."""

    def __init__(self, digest: Any) -> None:
        self.digest = digest

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return len(data)


def _query(table: sa.Table) -> tuple[sa.Select[Any], dict[str, Any]]:
    """The query of a table's rows and its part's header."""
    columns = list(table.columns)
    kinds = [column_kind(c) for c in columns]
    header = {
        "table": table.name,
        "columns": [[column.name, kind] for column, kind in zip(columns, kinds, strict=True)],
    }
    # JSON columns are read as the text stored and kept as that text: parsing and
    # serializing them again took most of a dump's time, and of a restore's (versions
    # are JSON snapshots)
    selected = [
        sa.cast(column, sa.Text) if kind == "json_text" else column
        for column, kind in zip(columns, kinds, strict=True)
    ]
    return sa.select(*selected).order_by(*table.primary_key.columns), header


def _row_key(row: Any, keyed: list[int]) -> bytes:
    """What a row's chunk bound depends on: its primary key, not what may be edited."""
    return "\0".join(str(row[index]) for index in keyed).encode()


def _decoder(kind: str) -> Callable[[Any], Any] | None:
    if kind == "datetime":
        return lambda value: None if value is None else dt.datetime.fromisoformat(value)
    if kind == "date":
        return lambda value: None if value is None else dt.date.fromisoformat(value)
    return None


def _converter(kind: str, column: sa.Column[Any], dialect: sa.Dialect) -> Converter | None:
    """What turns a column's value in a part into the driver's: the part's kind decoded,
    then the very conversion SQLAlchemy's insert of that column would apply (None: the
    value passes as it is)."""
    decode = _decoder(kind)
    bind = column.type.dialect_impl(dialect).bind_processor(dialect)
    if decode is None or bind is None:
        return decode or bind

    def exact(value: Any) -> Any:
        return bind(decode(value))

    if kind == "datetime" and all(exact(probe) == _as_text(probe) for probe in _PROBES):
        return functools.partial(_text_datetime, exact)
    return exact


#: A datetime of a part in UTC (as dumps write them): its date, its time, its fraction.
_UTC_ISO = re.compile(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(\.\d{6})?\+00:00")
_PROBES = ("2001-02-03T04:05:06+00:00", "1999-12-31T23:59:59.000001+00:00")


def _as_text(value: str) -> str | None:
    """A part's UTC datetime as SQLite keeps it (SQLAlchemy's text form; None: not in
    UTC as dumps write them). Checked by the caller against the exact conversion."""
    found = _UTC_ISO.fullmatch(value)
    if found is None:
        return None
    date, time, fraction = found.groups()
    return f"{date} {time}{fraction or '.000000'}"


def _text_datetime(exact: Converter, value: Any) -> Any:
    """The driver's value of a datetime where the database keeps them as text (SQLite):
    the text made from the part's own, which is what decoding it and the column's
    conversion give (see :func:`_converter`) in a fifth of the time; anything else the
    exact way."""
    if value is None:
        return None
    text = _as_text(value)
    if text is None:
        return exact(value)
    dt.datetime.fromisoformat(value)  # a date that does not exist is refused all the same
    return text


#: One column's value, from the part's to the driver's.
Converter = Callable[[Any], Any]


class TablePart:
    """One table's part, being read: its header, then its rows in batches."""

    def __init__(self, lines: Iterator[bytes]) -> None:
        self._lines = lines
        try:
            header = json.loads(next(lines))
            self.name: str = identifier(header["table"], "a table part's table")
            self.columns: list[tuple[str, str]] = [
                (identifier(n, f"table part {self.name}'s column"), k) for n, k in header["columns"]
            ]
        except (StopIteration, ValueError, KeyError, TypeError):
            raise BackupError("a table part of the snapshot has no valid header") from None
        unknown = [kind for _, kind in self.columns if kind not in _KIND_TYPES]
        if unknown:
            raise BackupError(f"table part {self.name}: unknown column kinds {unknown}")

    def table(self) -> sa.Table:
        """A table of the part's columns (not the models': a snapshot of an older schema
        revision loads as it was written)."""
        return sa.Table(
            self.name,
            sa.MetaData(),
            *(sa.Column(name, _KIND_TYPES[kind]()) for name, kind in self.columns),
        )

    def batches(self) -> Iterator[list[list[Any]]]:
        """The rows as the part holds them (a list of values each, in the columns' order),
        a batch at a time: each batch parsed as one JSON array, not a line at a time."""
        batch: list[bytes] = []
        size = 0
        for line in self._lines:
            batch.append(line)
            size += len(line)
            if len(batch) >= WRITE_BATCH or size >= WRITE_BATCH_BYTES:
                yield self._rows(batch)
                batch, size = [], 0
        if batch:
            yield self._rows(batch)

    def _rows(self, batch: list[bytes]) -> list[list[Any]]:
        rows = json.loads(b"[" + b",".join(batch) + b"]")
        width = len(self.columns)
        # one line, one row: a line such as '1],[2' must not pass as two rows
        if len(rows) != len(batch) or not all(
            type(row) is list and len(row) == width for row in rows
        ):
            raise BackupError(f"table part {self.name}: a row has the wrong column count")
        return rows


def load_table(
    connection: sa.Connection, part: TablePart, progress: Callable[[int], None] | None = None
) -> int:
    """Insert every row of ``part``; returns the count. One INSERT per batch, through the
    driver's executemany with the rows as tuples: SQLAlchemy's insert of a list of dicts
    spent most of a restore building and processing a dict per row."""
    table = part.table()
    dialect = connection.dialect
    converters = [
        (index, converter)
        for index, ((_, kind), column) in enumerate(zip(part.columns, table.columns, strict=True))
        if (converter := _converter(kind, column, dialect)) is not None
    ]
    statement = _insert_statement(dialect, table)
    count = 0
    for rows in part.batches():
        columns: list[Iterable[Any]] = list(zip(*rows, strict=True))
        for index, convert in converters:
            columns[index] = map(convert, columns[index])
        connection.exec_driver_sql(statement, list(zip(*columns, strict=True)))
        count += len(rows)
        if progress:
            progress(len(rows))
    if dialect.name == "postgresql":
        _advance_sequences(connection, part)
    return count


def _insert_statement(dialect: sa.Dialect, table: sa.Table) -> str:
    """``INSERT INTO table (columns) VALUES (...)`` in the driver's own parameter style,
    for rows given as tuples."""
    quote = dialect.identifier_preparer.quote
    marker = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(dialect.paramstyle)
    if marker is None:
        raise BackupError(f"a restore cannot use the {dialect.paramstyle} parameter style")
    names = ", ".join(quote(column.name) for column in table.columns)
    markers = ", ".join(marker for _ in table.columns)
    return f"INSERT INTO {quote(table.name)} ({names}) VALUES ({markers})"


def _advance_sequences(connection: sa.Connection, part: TablePart) -> None:
    """PostgreSQL's serial sequences do not see ids inserted as they are: set each to the
    largest id, so the next row gets the one after it."""
    quote = connection.dialect.identifier_preparer.quote
    for name, kind in part.columns:
        if kind != "integer":
            continue
        sequence = connection.execute(
            sa.select(sa.func.pg_get_serial_sequence(part.name, name))
        ).scalar()
        if sequence is None:
            continue
        column, table = quote(name), quote(part.name)
        connection.execute(
            sa.text(
                f"SELECT setval(:sequence, COALESCE(MAX({column}), 1), MAX({column}) IS NOT NULL) "
                f"FROM {table}"
            ),
            {"sequence": sequence},
        )


def contents_list(chunks: Iterable[bytes]) -> Iterator[tuple[str, int]]:
    """The (sha256, size) entries of a snapshot's contents list, one per line."""
    for line in lines(chunks):
        try:
            entry = json.loads(line)
        except ValueError:
            raise ForgedSnapshot("its contents list is not JSON lines") from None
        yield content_entry(entry)


def lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The lines of a stream of chunks."""
    rest = b""
    for chunk in chunks:
        rest += chunk
        *complete, rest = rest.split(b"\n")
        yield from complete
    if rest:
        yield rest
