"""/collections: named groups of items, their membership, and sharing them (read or write)."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from labvault.collections.models import Collection, collection_items
from labvault.db import begin_write
from labvault.items.models import Item
from labvault.web.session import get_session

from tests.records import assert_error, create_item, current_etag, patch_item, with_etag


def create_collection(client: Any, user: Any, **fields: Any) -> Any:
    response = client.post("/collections", json=fields, headers=user.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response


def members(app: Any, collection_id: str) -> set[str]:
    with app.app_context():
        rows = get_session().scalars(
            sa.select(Item.refcode)
            .join(collection_items, collection_items.c.item_id == Item.id)
            .join(Collection, Collection.id == collection_items.c.collection_id)
            .where(Collection.collection_id == collection_id)
        )
        return set(rows)


def test_collection_crud_with_etags(shared_app, labvault_make_user):
    client = shared_app.test_client()
    alice = labvault_make_user(shared_app)
    bob = labvault_make_user(shared_app)
    response = create_collection(
        client, alice, collection_id="batteries", title="Batteries", description="All *cells*"
    )
    body = response.json
    assert response.headers["ETag"]
    assert body["collection_id"] == "batteries"
    assert (body["title"], body["description"]) == ("Batteries", "All *cells*")
    assert body["created_by"] == {"id": alice.id, "display_name": alice.email.split("@")[0]}
    assert (body["shares"], body["item_count"], body["permission"]) == ([], 0, "owner")
    assert body["version"] == 1 and body["created_at"] and body["updated_at"]
    create_collection(client, alice, collection_id="another")
    create_collection(client, bob, collection_id="bobs")

    response = client.get("/collections/batteries", headers=alice.headers)
    assert response.status_code == 200 and response.json == body
    etag = response.headers["ETag"]
    listing = client.get("/collections", headers=alice.headers)
    assert [c["collection_id"] for c in listing.json] == ["another", "batteries"]
    assert json.loads(listing.headers["X-Pagination"])["total"] == 2
    assert [c["collection_id"] for c in client.get("/collections", headers=bob.headers).json] == [
        "bobs"
    ]
    assert_error(client.get("/collections/batteries", headers=bob.headers), 404)
    assert_error(client.get("/collections/nothing", headers=alice.headers), 404)

    url = "/collections/batteries"
    assert_error(client.patch(url, json={"title": "x"}, headers=alice.headers), 428)
    assert_error(client.delete(url, headers=alice.headers), 428)
    response = client.patch(url, json={"title": "Cells"}, headers=with_etag(alice, etag))
    assert response.status_code == 200
    assert (response.json["title"], response.json["version"]) == ("Cells", 2)
    assert response.headers["ETag"] != etag
    assert_error(client.patch(url, json={"title": "lost"}, headers=with_etag(alice, etag)), 412)
    assert_error(client.delete(url, headers=with_etag(alice, etag)), 412)
    etag = response.headers["ETag"]

    # renaming moves the URL; a name in use is a conflict
    response = client.patch(url, json={"collection_id": "another"}, headers=with_etag(alice, etag))
    assert_error(response, 409)
    response = client.patch(url, json={"collection_id": "cells"}, headers=with_etag(alice, etag))
    assert response.status_code == 200 and response.json["collection_id"] == "cells"
    assert_error(client.get(url, headers=alice.headers), 404)
    assert_error(client.patch(url, json={"title": "x"}, headers=with_etag(bob, "*")), 404)
    etag = response.headers["ETag"]

    item = create_item(client, alice, collections=["cells"])
    response = client.delete("/collections/cells", headers=with_etag(alice, etag))
    assert response.status_code == 204
    assert_error(client.get("/collections/cells", headers=alice.headers), 404)
    # the items of a deleted collection stay
    got = client.get(f"/items/{item['refcode']}", headers=alice.headers)
    assert got.status_code == 200 and got.json["collections"] == []
    with shared_app.app_context():
        ids = get_session().scalars(sa.select(Collection.collection_id))
        assert set(ids) == {"another", "bobs"}


def test_bad_collection_inputs(shared_app, labvault_make_user, subtests):
    client = shared_app.test_client()
    alice = labvault_make_user(shared_app)
    create_collection(client, alice, collection_id="taken")
    for body, code, field in [
        ({}, 422, "collection_id"),
        ({"collection_id": "has space"}, 422, "collection_id"),
        ({"collection_id": "a/b"}, 422, "collection_id"),
        ({"collection_id": "x" * 41}, 422, "collection_id"),
        ({"collection_id": "ünï"}, 422, "collection_id"),
        ({"collection_id": 5}, 422, "collection_id"),
        ({"collection_id": "ok", "colour": "red"}, 422, "colour"),
        ({"collection_id": "ok", "title": ["x"]}, 422, "title"),
        ({"collection_id": "ok", "shares": [{"user_id": alice.id}]}, 422, "shares"),
        (
            {"collection_id": "ok", "shares": [{"user_id": alice.id, "permission": "admin"}]},
            422,
            "shares",
        ),
        (
            {"collection_id": "ok", "shares": [{"user_id": 99999, "permission": "read"}]},
            422,
            "shares",
        ),
        ({"collection_id": "taken"}, 409, None),
    ]:
        with subtests.test("POST /collections", body=body):
            response = client.post("/collections", json=body, headers=alice.headers)
            assert_error(response, code, field)
    response = client.post(
        "/collections", data="{", headers={**alice.headers, "Content-Type": "application/json"}
    )
    assert_error(response, 400)
    for changes, field in [
        ({"collection_id": "bad id"}, "collection_id"),
        ({"created_by": 1}, "created_by"),
        ({"shares": "everyone"}, "shares"),
    ]:
        with subtests.test("PATCH /collections/taken", changes=changes):
            headers = with_etag(alice, "*")
            response = client.patch("/collections/taken", json=changes, headers=headers)
            assert_error(response, 422, field)
    assert_error(client.get("/collections?page_size=101", headers=alice.headers), 422)
    assert client.get("/collections/taken", headers=alice.headers).json["version"] == 1
    unverified = labvault_make_user(shared_app, status="unverified")
    assert_error(
        client.post("/collections", json={"collection_id": "mine"}, headers=unverified.headers),
        403,
    )


def test_membership_and_item_filter(shared_app, labvault_make_user):
    client = shared_app.test_client()
    alice = labvault_make_user(shared_app)
    bob = labvault_make_user(shared_app)
    create_collection(client, alice, collection_id="films")
    create_collection(client, alice, collection_id="powders")
    film = create_item(client, alice, name="film")
    powder = create_item(client, alice, name="powder", collections=["powders"])
    bobs = create_item(client, bob, name="bob's")
    assert powder["collections"] == ["powders"]

    url = f"/collections/films/items/{film['refcode']}"
    assert client.put(url, headers=alice.headers).status_code == 204
    assert client.put(url, headers=alice.headers).status_code == 204  # already in: fine
    assert (
        client.put(
            f"/collections/films/items/{powder['refcode']}", headers=alice.headers
        ).status_code
        == 204
    )
    assert members(shared_app, "films") == {film["refcode"], powder["refcode"]}
    assert client.get("/collections/films", headers=alice.headers).json["item_count"] == 2
    got = client.get(f"/items/{powder['refcode']}", headers=alice.headers).json
    assert got["collections"] == ["films", "powders"]
    # membership is not an item change: no new version
    assert got["version"] == 1

    def listed(query: str) -> set[str]:
        response = client.get(f"/items?{query}", headers=alice.headers)
        assert response.status_code == 200
        return {entry["refcode"] for entry in response.json}

    assert listed("collection=films") == {film["refcode"], powder["refcode"]}
    assert listed("collection=powders") == {powder["refcode"]}

    assert client.delete(url, headers=alice.headers).status_code == 204
    assert_error(client.delete(url, headers=alice.headers), 404)
    assert listed("collection=films") == {powder["refcode"]}
    assert client.get(f"/items/{film['refcode']}", headers=alice.headers).status_code == 200

    # the items' own collections field adds and removes memberships too
    etag = f'"{film["refcode"]}@1"'
    response = client.patch(
        f"/items/{film['refcode']}",
        json={"collections": ["films", "powders"]},
        headers=with_etag(alice, etag),
    )
    assert response.status_code == 200 and response.json["collections"] == ["films", "powders"]
    response = client.patch(
        f"/items/{film['refcode']}",
        json={"collections": ["powders"]},
        headers=with_etag(alice, response.headers["ETag"]),
    )
    assert response.json["collections"] == ["powders"]
    assert members(shared_app, "powders") == {film["refcode"], powder["refcode"]}

    # bob cannot add his item to alice's collection, nor alice's item to his
    create_collection(client, bob, collection_id="bobs")
    assert_error(
        client.put(f"/collections/films/items/{bobs['refcode']}", headers=bob.headers), 404
    )
    assert_error(client.put(f"/collections/bobs/items/{film['refcode']}", headers=bob.headers), 404)
    assert_error(
        client.put(f"/collections/films/items/{bobs['refcode']}", headers=alice.headers), 404
    )
    assert_error(client.put("/collections/nothing/items/test:AAAAAA", headers=alice.headers), 404)
    assert_error(client.put("/collections/films/items/test:AAAAAA", headers=alice.headers), 404)
    assert members(shared_app, "bobs") == set()


def test_shares_grant_read_or_write(shared_app, labvault_make_user):
    client = shared_app.test_client()
    alice = labvault_make_user(shared_app)
    reader = labvault_make_user(shared_app)
    writer = labvault_make_user(shared_app)
    stranger = labvault_make_user(shared_app)
    response = create_collection(
        client,
        alice,
        collection_id="project",
        shares=[
            {"user_id": writer.id, "permission": "write"},
            {"user_id": reader.id, "permission": "read"},
        ],
    )
    assert sorted(response.json["shares"], key=lambda s: s["user_id"]) == [
        {
            "user_id": reader.id,
            "permission": "read",
            "display_name": reader.email.split("@")[0],
        },
        {
            "user_id": writer.id,
            "permission": "write",
            "display_name": writer.email.split("@")[0],
        },
    ]
    item = create_item(client, alice, name="shared sample", collections=["project"])
    private = create_item(client, alice, name="private")
    refcode = item["refcode"]

    for user, permission in ((reader, "read"), (writer, "write")):
        got = client.get("/collections/project", headers=user.headers)
        assert got.status_code == 200 and got.json["permission"] == permission
        listing = client.get("/collections", headers=user.headers).json
        assert [c["collection_id"] for c in listing] == ["project"]
        assert client.get(f"/items/{refcode}", headers=user.headers).status_code == 200
        assert_error(client.get(f"/items/{private['refcode']}", headers=user.headers), 404)
        items = client.get("/items?collection=project", headers=user.headers).json
        assert [i["refcode"] for i in items] == [refcode]
    assert_error(client.get("/collections/project", headers=stranger.headers), 404)
    assert_error(client.get(f"/items/{refcode}", headers=stranger.headers), 404)
    assert client.get("/items?collection=project", headers=stranger.headers).json == []

    # reading is not writing: the item, the collection and its membership stay as they are
    etag = f'"{refcode}@1"'
    response = client.patch(
        f"/items/{refcode}", json={"name": "by reader"}, headers=with_etag(reader, etag)
    )
    assert_error(response, 403)
    assert_error(client.delete(f"/items/{refcode}", headers=with_etag(reader, etag)), 403)
    response = client.patch(
        "/collections/project", json={"title": "mine"}, headers=with_etag(reader, "*")
    )
    assert_error(response, 403)
    assert_error(
        client.delete(f"/collections/project/items/{refcode}", headers=reader.headers), 403
    )
    reader_item = create_item(client, reader, name="reader's")
    response = client.put(
        f"/collections/project/items/{reader_item['refcode']}", headers=reader.headers
    )
    assert_error(response, 403)

    response = client.patch(
        f"/items/{refcode}", json={"name": "by writer"}, headers=with_etag(writer, etag)
    )
    assert response.status_code == 200
    writer_item = create_item(client, writer, name="writer's")
    response = client.put(
        f"/collections/project/items/{writer_item['refcode']}", headers=writer.headers
    )
    assert response.status_code == 204
    # the reader now sees the writer's item through the collection
    assert client.get(f"/items/{writer_item['refcode']}", headers=reader.headers).status_code == 200

    # the owner changes the shares: the reader loses access, the stranger gains it
    response = client.patch(
        "/collections/project",
        json={"shares": [{"user_id": stranger.id, "permission": "read"}]},
        headers=with_etag(alice, "*"),
    )
    assert response.status_code == 200
    assert [(s["user_id"], s["permission"]) for s in response.json["shares"]] == [
        (stranger.id, "read")
    ]
    assert_error(client.get(f"/items/{refcode}", headers=reader.headers), 404)
    assert_error(client.get("/collections/project", headers=writer.headers), 404)
    assert client.get(f"/items/{refcode}", headers=stranger.headers).status_code == 200
    response = client.patch(
        "/collections/project",
        json={"shares": [{"user_id": stranger.id, "permission": "write"}]},
        headers=with_etag(alice, "*"),
    )
    assert response.json["shares"][0]["permission"] == "write"
    assert client.get("/collections/project", headers=stranger.headers).json["permission"] == (
        "write"
    )


def test_item_patch_leaves_collections_it_may_not_change(shared_app, labvault_make_user):
    client = shared_app.test_client()
    alice = labvault_make_user(shared_app)
    bob = labvault_make_user(shared_app)
    create_collection(
        client, bob, collection_id="bobs", shares=[{"user_id": alice.id, "permission": "read"}]
    )
    create_collection(client, alice, collection_id="alices")
    item = create_item(client, alice, collections=["alices"])
    refcode = item["refcode"]
    # bob may put alice's item in his collection only if he may change the item: he may not
    assert_error(client.put(f"/collections/bobs/items/{refcode}", headers=bob.headers), 404)
    with shared_app.app_context():
        session = get_session()
        begin_write(session)
        bobs_id = session.scalar(sa.select(Collection.id).where(Collection.collection_id == "bobs"))
        item_id = session.scalar(sa.select(Item.id).where(Item.refcode == refcode))
        session.execute(sa.insert(collection_items).values(collection_id=bobs_id, item_id=item_id))
        session.commit()
    assert client.get(f"/items/{refcode}", headers=alice.headers).json["collections"] == [
        "alices",
        "bobs",
    ]

    def patch(collections: list[str]) -> Any:
        etag = client.get(f"/items/{refcode}", headers=alice.headers).headers["ETag"]
        return client.patch(
            f"/items/{refcode}", json={"collections": collections}, headers=with_etag(alice, etag)
        )

    # alice only reads bob's collection: she cannot take her item out of it ...
    assert_error(patch(["alices"]), 422, "collections")
    assert_error(client.delete(f"/collections/bobs/items/{refcode}", headers=alice.headers), 403)
    assert members(shared_app, "bobs") == {refcode}
    # ... but sending it back unchanged, with other changes, is fine
    response = patch(["bobs"])
    assert response.status_code == 200, response.json
    assert response.json["collections"] == ["bobs"]
    assert members(shared_app, "bobs") == {refcode}
    assert members(shared_app, "alices") == set()


def test_an_item_shows_only_the_collections_its_reader_may_see(shared_app, labvault_make_user):
    client = shared_app.test_client()
    alice = labvault_make_user(shared_app)
    bob = labvault_make_user(shared_app)
    create_collection(client, alice, collection_id="alice-private")
    create_collection(
        client, alice, collection_id="shared-with-bob",
        shares=[{"user_id": bob.id, "permission": "read"}],
    )  # fmt: skip
    item = create_item(client, alice, collections=["alice-private", "shared-with-bob"])
    refcode = item["refcode"]
    assert item["collections"] == ["alice-private", "shared-with-bob"]
    seen_by_bob = client.get(f"/items/{refcode}", headers=bob.headers)
    assert seen_by_bob.status_code == 200
    assert seen_by_bob.json["collections"] == ["shared-with-bob"]
    snapshot = client.get(f"/items/{refcode}/versions/1", headers=bob.headers).json["snapshot"]
    assert snapshot["collections"] == ["shared-with-bob"]


def test_only_the_owner_shares_or_deletes_a_collection(shared_app, labvault_make_user):
    client = shared_app.test_client()
    alice, bob = labvault_make_user(shared_app), labvault_make_user(shared_app)
    created = create_collection(
        client, alice, collection_id="team", shares=[{"user_id": bob.id, "permission": "write"}]
    )
    etag = created.headers["ETag"]
    renamed = client.patch(
        "/collections/team", json={"title": "Team"}, headers=with_etag(bob, etag)
    )
    assert renamed.status_code == 200  # a write share may describe the collection
    etag = renamed.headers["ETag"]
    reshare = client.patch("/collections/team", json={"shares": []}, headers=with_etag(bob, etag))
    assert_error(reshare, 403)
    assert_error(client.delete("/collections/team", headers=with_etag(bob, etag)), 403)
    assert (
        client.get("/collections/team", headers=bob.headers).json["shares"][0]["user_id"] == bob.id
    )
    assert client.delete("/collections/team", headers=with_etag(alice, etag)).status_code == 204


def test_a_write_share_edits_an_item_but_not_its_creators(shared_app, labvault_make_user):
    client = shared_app.test_client()
    alice, bob = labvault_make_user(shared_app), labvault_make_user(shared_app)
    admin = labvault_make_user(shared_app, role="admin")
    create_collection(
        client, alice, collection_id="team", shares=[{"user_id": bob.id, "permission": "write"}]
    )
    item = create_item(client, alice, name="Shared sample", collections=["team"])
    refcode = item["refcode"]

    def creators() -> list[int]:
        body = client.get(f"/items/{refcode}", headers=alice.headers).json
        return [c["id"] for c in body["creators"]]

    def patch(user: Any, changes: dict[str, Any]) -> Any:
        return patch_item(client, user, refcode, changes)

    assert_error(patch(bob, {"creators": [alice.id, bob.id]}), 403)
    assert creators() == [alice.id]
    # the creators sent back unchanged, with an edit: allowed
    edited = patch(bob, {"creators": [alice.id], "description": "measured"})
    assert edited.status_code == 200 and edited.json["description"] == "measured"
    # a creator and an admin may change them
    assert patch(alice, {"creators": [alice.id, bob.id]}).status_code == 200
    assert patch(admin, {"creators": [alice.id]}).status_code == 200
    assert creators() == [alice.id]

    # restoring the version where bob was a creator restores the rest, not the creators
    with_bob = 3  # create, bob's edit, alice adds bob, the admin takes him out again
    version = client.get(f"/items/{refcode}/versions/{with_bob}", headers=bob.headers)
    assert [c["id"] for c in version.json["snapshot"]["creators"]] == [alice.id, bob.id]

    def restore(user: Any) -> Any:
        etag = current_etag(client, user, refcode)
        url = f"/items/{refcode}/versions/{with_bob}/restore"
        return client.post(url, headers=with_etag(user, etag))

    restored = restore(bob)
    assert restored.status_code == 200, restored.get_data(as_text=True)
    assert creators() == [alice.id]
    assert restored.json["description"] == "measured"
    restored = restore(alice)
    assert restored.status_code == 200 and creators() == [alice.id, bob.id]
