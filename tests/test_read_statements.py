"""How many SQL statements a read costs: each is a round trip to the database server
and more of SQLAlchemy's Python than its rows, so the read path keeps to a few.

GET /items/<refcode> runs two whatever the item links to: the user with their session's
revocation, and the item with its relationships, creators and collections (those the
reader may see). A list page runs three: the user, the page, its total; and
the same statement objects page after page (building them cost more than running them).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from tests.records import create_item, statements


def test_get_item_is_two_statements_whatever_it_links_to(shared_app, labvault_make_user):
    client = shared_app.test_client()
    alice, bob = labvault_make_user(shared_app), labvault_make_user(shared_app)
    shared = {"collection_id": "films", "shares": [{"user_id": bob.id, "permission": "read"}]}
    for body in (shared, {"collection_id": "secret"}):
        response = client.post("/collections", json=body, headers=alice.headers)
        assert response.status_code == 201, response.get_data(as_text=True)
    hidden = create_item(client, alice, name="not shared with bob")
    parent = create_item(client, alice, name="parent", collections=["films"])
    item = create_item(
        client,
        alice,
        name="child",
        collections=["films", "secret"],
        relationships=[
            {"refcode": parent["refcode"], "relation": "parent"},
            {"refcode": hidden["refcode"], "relation": "other"},
        ],
    )
    url = f"/items/{item['refcode']}"
    client.get(url, headers=bob.headers)  # a first request may prepare what others reuse

    for reader, collections, related in (
        (alice, ["films", "secret"], [parent["refcode"], hidden["refcode"]]),
        (bob, ["films"], [parent["refcode"]]),  # bob reads it through films only
    ):
        with statements(shared_app) as sent:
            response = client.get(url, headers=reader.headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert len(sent) == 2, sent
        body = response.json
        assert body["collections"] == collections
        assert [r["refcode"] for r in body["relationships"]] == related
        assert [c["id"] for c in body["creators"]] == [alice.id]


def test_a_list_page_is_three_statements(shared_app, labvault_make_user):
    client = shared_app.test_client()
    alice = labvault_make_user(shared_app)
    for number in range(25):
        create_item(client, alice, name=f"item {number}")
    with statements(shared_app) as sent:
        response = client.get("/items?page=2&page_size=10", headers=alice.headers)
    assert response.status_code == 200
    assert len(response.json) == 10
    assert len(sent) == 3, sent


@contextmanager
def executed(app: Any) -> Iterator[list[Any]]:
    """The statements (objects, not SQL) the app executes inside the block."""
    engine = app.extensions["labvault"].database.engine
    ran: list[Any] = []

    def note(_conn: Any, statement: Any, *_: Any) -> None:
        ran.append(statement)

    sa.event.listen(engine, "before_execute", note)
    try:
        yield ran
    finally:
        sa.event.remove(engine, "before_execute", note)


def test_the_statements_of_a_list_are_built_once(shared_app, labvault_make_user):
    """Building a page's statements (and their ORM entities) cost more Python than
    running them: every page of one kind of list runs the same statements, filtered or
    not, with other values bound."""
    client = shared_app.test_client()
    alice = labvault_make_user(shared_app)
    for number in range(25):
        create_item(client, alice, name=f"item {number}", status="planned")
    for query in ("", "&status=planned&sort=name"):
        ran = []
        for page in (1, 2):
            with executed(shared_app) as statements:
                response = client.get(
                    f"/items?page={page}&page_size=10{query}", headers=alice.headers
                )
            assert response.status_code == 200 and len(response.json) == 10
            ran.append(statements)
        assert len(ran[1]) == 3
        assert all(a is b for a, b in zip(ran[0], ran[1], strict=True)), ran
