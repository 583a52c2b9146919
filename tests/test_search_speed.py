"""What keeps a search fast (issue 26): the round trips of a Mroonga search, and no JIT
on PostgreSQL. The figures are bench/api.py's; these tests keep the causes fixed."""

from __future__ import annotations

import random
from typing import Any

import pytest
import sqlalchemy as sa
from labvault.db import create_engine
from labvault.search.ddl import PENDING_TABLE

from tests.records import create_item
from tests.test_search_mroonga import count, found


@pytest.mark.parametrize("timeout", [None, 2.0])
def test_postgresql_connections_compile_no_plans(make_database, timeout):
    """JIT compiled a common word's search plan at 100,000 items for 50 of its 200 ms."""
    engine = create_engine(make_database("postgresql"), timeout=timeout)
    try:
        with engine.connect() as connection:
            jit = connection.exec_driver_sql("SHOW jit").scalar()
            statement_timeout = connection.exec_driver_sql("SHOW statement_timeout").scalar()
    finally:
        engine.dispose()
    assert jit == "off"
    assert statement_timeout == ("0" if timeout is None else "2s")


def statements_of(app: Any, user: Any, q: str) -> tuple[list[str], set[int]]:
    """The statements a search sends, and the connections they are sent on."""
    engine = app.extensions["labvault"].database.engine
    sent: list[str] = []
    connections: set[int] = set()

    def note(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(" ".join(statement.split()))
        connections.add(id(conn.connection.dbapi_connection))

    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        assert found(app, user, q) == ["slurry-1"]
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)
    return sent, connections


def test_a_mroonga_search_with_nothing_to_copy_stays_on_its_connection(
    mroonga_app, labvault_make_user
):
    user = labvault_make_user(mroonga_app)
    create_item(mroonga_app.test_client(), user, name="Cathode slurry", item_id="slurry-1")
    assert count(mroonga_app, PENDING_TABLE) == 0

    sent, connections = statements_of(mroonga_app, user, "cath slur")

    assert len(connections) == 1, sent
    searching = [s for s in sent if "items_search" in s]
    # the newest copied item and whether anything is noted: one statement; then the hits
    assert sum("items_search_pending" in s for s in searching) == 1, searching
    assert not [s for s in sent if "FOR UPDATE" in s], sent


def test_a_mroonga_search_still_copies_what_is_noted_first(mroonga_app, labvault_make_user):
    user = labvault_make_user(mroonga_app)
    create_item(mroonga_app.test_client(), user, name="Cathode slurry", item_id="slurry-1")
    engine = mroonga_app.extensions["labvault"].database.engine
    with engine.begin() as connection:  # as a writer killed between its commit and the copy
        connection.exec_driver_sql(f"DELETE FROM {PENDING_TABLE}")
        connection.exec_driver_sql("DELETE FROM items_search")
        connection.exec_driver_sql(f"INSERT INTO {PENDING_TABLE} (item_id) SELECT id FROM items")

    assert found(mroonga_app, user, "cath slur") == ["slurry-1"]
    assert count(mroonga_app, PENDING_TABLE) == 0


def test_a_mroonga_search_builds_its_hits_statement_once_per_shape(mroonga_app, labvault_make_user):
    """Building the statement that ranks a window's hits cost 1.5 to 2 ms of Python a
    search; another search with as many words, for the same user, binds new words to the
    one built before and still finds what it asks for."""
    from labvault.search import mroonga

    user = labvault_make_user(mroonga_app)
    client = mroonga_app.test_client()
    create_item(client, user, name="Cathode slurry", item_id="slurry-1")
    create_item(client, user, name="Anode foil", item_id="foil-1")
    mroonga._hits_statement.cache_clear()  # built by other tests of this process too
    assert found(mroonga_app, user, "cath slur") == ["slurry-1"]
    built = mroonga._hits_statement.cache_info().misses
    assert built == 1

    assert found(mroonga_app, user, "anod foil") == ["foil-1"]
    assert found(mroonga_app, user, "cath foil") == []
    assert mroonga._hits_statement.cache_info().misses == built
    assert found(mroonga_app, user, "foil") == ["foil-1"]  # one word: a statement of its own
    assert mroonga._hits_statement.cache_info().misses == built + 1


def _seed_words(url: str, user_id: int, count: int) -> None:
    """``count`` lab-wide items, each described by 15 random words of 35 (so each word is
    in 35% of them, and two of them in 12%) and 5 of 200 others, "zircon" in one of a
    hundred; analyzed, as a grown database is."""
    from labvault.db import utcnow
    from labvault.items.models import Item

    rng = random.Random(26)
    vocabulary = ["cathode", "powder", *(f"word{number}" for number in range(33))]
    # PostgreSQL estimates a prefix ("cathode:*") from the most common words only when
    # it keeps a hundred of them or more, as it does of a lab's texts
    fillers = [f"filler{number}" for number in range(200)]
    now = utcnow()
    rows = []
    for n in range(count):
        words = rng.choices(vocabulary, k=15) + rng.choices(fillers, k=5)
        words += ["zircon"] if n % 100 == 7 else []
        rows.append(
            {
                "refcode": f"seed:{n:06d}",
                "item_id": f"seed-{n:06d}",
                "type": "starting_material",
                "name": f"Chemical {n}",
                "description": "",
                "status": "available",
                "fields": {},
                "search_title": f"Chemical {n}",
                "search_body": " ".join(words),
                "created_by_id": user_id,
                "created_at": now,
                "updated_at": now,
                "version": 1,
            }
        )
    # not the app's engine: its statements time out after DATABASE_TIMEOUT
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.insert(Item), rows)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE items")
    finally:
        engine.dispose()


def test_postgresql_finds_a_window_of_common_words_newest_first(
    make_database, make_server_app, labvault_make_user
):
    """The GIN index finds every match of a word typed in part before the newest are
    picked (the postings of every word it starts), which the planner estimates far too
    cheap: "cathode powder" in a tenth of 100,000 items took 45 to 100 ms through it, 16
    to 22 ms walking the items newest first. A window of common words is walked; a rare
    word still goes through the index."""
    url = make_database("postgresql")
    app = make_server_app(url)
    user = labvault_make_user(app)
    _seed_words(url, user.id, 40_000)
    engine = app.extensions["labvault"].database.engine

    def plan_of_window(q: str) -> str:
        sent: list[tuple[str, Any]] = []

        def note(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
            sent.append((statement, parameters))

        sa.event.listen(engine, "before_cursor_execute", note)
        try:
            response = app.test_client().get(
                "/items", query_string={"q": q, "page_size": 5}, headers=user.headers
            )
        finally:
            sa.event.remove(engine, "before_cursor_execute", note)
        assert response.status_code == 200, response.json
        assert len(response.json) == 5
        statement, parameters = next((s, p) for s, p in sent if "newest_matches" in s)
        with engine.connect() as connection:
            rows = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
            return "\n".join(row[0] for row in rows)

    common = plan_of_window("cathode powder")
    assert "Index Scan Backward using pk_items" in common, common
    assert "ft_items_search" not in common, common
    rare = plan_of_window("zircon")
    assert "Bitmap Index Scan on ft_items_search" in rare, rare
