"""How many SQL statements a read costs: each is a round trip to the database server
and more of SQLAlchemy's Python than its rows, so the read path keeps to a few.

GET /items/<refcode> runs three whatever the item links to: the user with their
session's revocation, the item, and its relationships, creators and collections (those
the reader may see) in one. A list page runs three: the user, the page, its total.
"""

from __future__ import annotations

from tests.records import create_item, statements


def test_get_item_is_three_statements_whatever_it_links_to(shared_app, labvault_make_user):
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
        assert len(sent) == 3, sent
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
