"""A snapshot's table part loads into every database exactly, a batch per statement."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import sqlalchemy as sa
from labvault.backups.codec import BackupError
from labvault.backups.dump import WRITE_BATCH, TablePart, load_table
from labvault.db import UTCDateTime, create_engine

COLUMNS = [
    ["id", "integer"],
    ["name", "text"],
    ["done", "boolean"],
    ["weight", "float"],
    ["made", "datetime"],
    ["day", "date"],
    ["data", "json"],  # as older snapshots hold a JSON column: the document itself
    ["document", "json_text"],  # as snapshots hold it now: the text the database stores
]


def part_lines(rows: list[list[Any]]) -> list[bytes]:
    header = {"table": "samples", "columns": COLUMNS}
    return [json.dumps(line).encode() for line in [header, *rows]]


def row(n: int) -> list[Any]:
    # whole seconds: the table made here from the part has MariaDB's DATETIME (the
    # migrations' tables keep microseconds: see test_backups_round_trips.py)
    made = dt.datetime(2026, 12, 7, 13, n % 60, n % 59, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    data = None if n % 3 == 0 else {"n": n, "tags": ["ä", "b"], "nested": {"x": [1.5, None]}}
    document = None if n % 5 == 0 else f'{{"n":{n},"text":"ü\\"%s"}}'
    return [
        n,
        f"sample {n} ü'\"%s",
        n % 2 == 0,
        n / 7,
        made.isoformat(),
        "2026-02-28",
        data,
        document,
    ]


@pytest.mark.parametrize("kind", ["sqlite", "mariadb", "postgresql"])
def test_a_part_loads_exactly_with_one_insert_per_batch(kind, make_database):
    rows = [row(n) for n in range(1, 2 * WRITE_BATCH + 501)]
    part = TablePart(iter(part_lines(rows)))
    table = part.table()
    engine = create_engine(make_database(kind))
    inserts: list[tuple[str, Any]] = []

    def note(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.startswith("INSERT"):
            inserts.append((statement, parameters))

    try:
        with engine.begin() as connection:
            table.create(connection)
            sa.event.listen(engine, "before_cursor_execute", note)
            assert load_table(connection, part) == len(rows)
            sa.event.remove(engine, "before_cursor_execute", note)
            loaded = connection.execute(sa.select(table).order_by(table.c.id)).all()
    finally:
        engine.dispose()

    assert [len(parameters) for _, parameters in inserts] == [WRITE_BATCH, WRITE_BATCH, 500]
    assert len(loaded) == len(rows)
    for got, (n, name, done, weight, made, day, data, document) in zip(loaded, rows, strict=True):
        assert got.id == n and got.name == name and got.done is done
        assert got.weight == pytest.approx(weight, rel=1e-12)
        assert got.made == dt.datetime.fromisoformat(made) and got.made.tzinfo == dt.UTC
        assert got.day == dt.date.fromisoformat(day)
        assert got.data == data
        assert got.document == document


@pytest.mark.parametrize(
    "line",
    [
        b'[1,"a",true,1.0,null,null,null,null],[2,"b",true,1.0,null,null,null,null]',
        b'[1,"a"]',
        b"1",
    ],
    ids=["two rows on one line", "too few columns", "not a list"],
)
def test_a_line_that_is_not_one_row_of_the_columns_is_refused(line):
    lines = part_lines([row(1)])
    part = TablePart(iter([*lines, line]))
    with pytest.raises(BackupError, match="wrong column count"):
        list(part.batches())


def test_datetimes_load_into_sqlite_as_the_text_sqlalchemy_writes(tmp_path):
    """SQLite keeps datetimes as text: a part's UTC ones go in as the text made from
    theirs, which must be what SQLAlchemy itself writes for the same datetime."""
    made = [
        dt.datetime(2026, 12, 7, 13, 5, 9, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 7, 13, 5, 9, 70809, tzinfo=dt.UTC),
        dt.datetime(1999, 12, 31, 23, 59, 59, 1, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        None,
    ]
    rows = [
        [n, *[None] * 3, None if at is None else at.isoformat(), *[None] * 3]
        for n, at in enumerate(made)
    ]
    part = TablePart(iter(part_lines(rows)))
    table = part.table()
    written = sa.Table(
        "written", sa.MetaData(), sa.Column("id", sa.Integer), sa.Column("made", UTCDateTime())
    )
    engine = create_engine(f"sqlite:///{tmp_path / 'load.db'}")
    try:
        with engine.begin() as connection:
            table.create(connection)
            written.create(connection)
            load_table(connection, part)
            connection.execute(
                written.insert(), [{"id": n, "made": at} for n, at in enumerate(made)]
            )
            as_text = "SELECT made FROM {} ORDER BY id"
            loaded = connection.exec_driver_sql(as_text.format("samples")).scalars().all()
            expected = connection.exec_driver_sql(as_text.format("written")).scalars().all()
            impossible = TablePart(
                iter(part_lines([[9, *[None] * 3, "2026-02-30T00:00:00+00:00", *[None] * 3]]))
            )
            with pytest.raises(ValueError, match="day is out of range"):
                load_table(connection, impossible)
    finally:
        engine.dispose()
    assert loaded == expected and loaded[0] == "2026-12-07 13:05:09.000000"
