"""GET /items without q: who reads each item is checked row by row as the page is read,
and the total counts the lab-wide items first (everyone reads them; an index counts
them), checking who reads the others only when those fall short of the count's limit."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from labvault import paging
from labvault.auth.models import User
from labvault.items import lists
from labvault.web.session import get_session

from tests.records import create_item as create
from tests.records import statements


def page(client: Any, user: Any, query: str) -> tuple[list[str], tuple[int, bool]]:
    response = client.get(f"/items?{query}", headers=user.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    meta = json.loads(response.headers["X-Pagination"])
    return [entry["refcode"] for entry in response.json], (meta["total"], meta["total_exact"])


def trash(client: Any, user: Any, refcode: str) -> None:
    etag = client.get(f"/items/{refcode}", headers=user.headers).headers["ETag"]
    response = client.delete(f"/items/{refcode}", headers={**user.headers, "If-Match": etag})
    assert response.status_code == 204, response.get_data(as_text=True)


def test_totals_count_lab_wide_items_first_and_the_rest_when_they_fall_short(
    shared_app, labvault_make_user, monkeypatch
):
    monkeypatch.setattr(paging, "COUNT_LIMIT", 3)  # a page of 1 counts up to 3 rows
    client = shared_app.test_client()
    alice, bob = labvault_make_user(shared_app), labvault_make_user(shared_app)
    manager = labvault_make_user(shared_app, role="manager")
    chemicals = [
        create(client, bob, type="starting_material", name=f"chemical {n}")["refcode"]
        for n in range(4)
    ]
    for n in range(3):
        create(client, bob, name=f"bob's sample {n}")  # alice does not read these
    for refcode in chemicals[1:]:
        trash(client, bob, refcode)

    # one lab-wide item left: the rest of what alice reads is counted (none), and the
    # three in the trash are not
    assert page(client, alice, "page_size=1") == ([chemicals[0]], (1, True))
    assert page(client, manager, "page_size=1")[1] == (3, False)  # 1 + bob's 3

    mine = [create(client, alice, name=f"alice's {n}")["refcode"] for n in range(2)]
    # lab-wide 1 + her own 2: as many as the count's limit
    assert page(client, alice, "page_size=1") == ([mine[-1]], (3, False))
    assert page(client, alice, "page_size=1&exact=true")[1] == (3, True)
    # a filter the lab-wide items do not pass is counted without them
    assert page(client, alice, "page_size=1&type=sample") == ([mine[-1]], (2, True))

    for n in range(3):
        create(client, bob, type="equipment", name=f"balance {n}")
    rows, total = page(client, alice, "page_size=1&page=2")  # counted up to 1 + 3 rows
    assert len(rows) == 1 and total == (4, False)
    assert page(client, alice, "page_size=1&exact=true")[1] == (6, True)
    assert page(client, alice, "page_size=1&type=sample")[1] == (2, True)

    # the lab-wide count spares no statement: the page and its total, after the user
    with statements(shared_app) as sent:
        page(client, alice, "page_size=1")
    assert len(sent) == 3, sent


def test_who_reads_an_item_is_checked_per_row_on_postgresql(
    make_database, make_server_app, labvault_make_user
):
    """PostgreSQL hashes a correlated EXISTS under OR: the set of every item the user
    created, built before the first row of a page. The check must stay per row."""
    app = make_server_app(make_database("postgresql"))
    engine = app.extensions["labvault"].database.engine
    client = app.test_client()
    alice = labvault_make_user(app)
    for n in range(30):
        create(client, alice, name=f"sample {n}")
    with app.app_context():
        session = get_session()
        user = session.get(User, alice.id)
        query = lists.sorted_query(lists.filtered_query(user, {}), "-updated_at").limit(20)
        compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
        plan = [row[0] for row in session.execute(sa.text(f"EXPLAIN {compiled}"))]
    creators = [n for n, line in enumerate(plan) if "on item_creators" in line]
    assert creators, plan
    for n in creators:  # each look-up of the creators names the item of the row
        assert "item_id = items.id" in "".join(plan[n : n + 3]), "\n".join(plan)
