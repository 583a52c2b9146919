"""What keeps a search fast (issue 26): the round trips of a Mroonga search, and no JIT
on PostgreSQL. The figures are bench/api.py's; these tests keep the causes fixed."""

from __future__ import annotations

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
