"""Versions of items (every change keeps a full snapshot), restoring them, and the trash."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from labvault.blocks.models import Block
from labvault.items.models import Item, ItemVersion
from labvault.web.session import get_session

from tests.records import assert_error, current_etag, with_etag
from tests.records import create_item as create
from tests.records import patch_item as patch


def add_comment(client: Any, user: Any, refcode: str, text: str) -> dict[str, Any]:
    response = client.post(
        f"/items/{refcode}/blocks",
        json={"block_type": "comment", "title": "notes", "data": {"text": text}},
        headers=user.headers,
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    body: dict[str, Any] = response.json
    return body


def block_url(refcode: str, block: dict[str, Any]) -> str:
    return f"/items/{refcode}/blocks/{block['id']}"


def versions(client: Any, user: Any, refcode: str) -> list[dict[str, Any]]:
    response = client.get(f"/items/{refcode}/versions?page_size=100", headers=user.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    found: list[dict[str, Any]] = response.json
    return found


def test_every_change_keeps_a_version_with_a_snapshot(shared_app, labvault_make_user):
    client = shared_app.test_client()
    alice = labvault_make_user(shared_app)
    bob = labvault_make_user(shared_app)
    item = create(client, alice, name="first", chemical_formula="NaCl")
    refcode = item["refcode"]
    response = client.post(
        "/collections",
        json={"collection_id": "group", "shares": [{"user_id": bob.id, "permission": "write"}]},
        headers=alice.headers,
    )
    assert response.status_code == 201
    assert patch(client, alice, refcode, {"collections": ["group"]}).status_code == 200
    assert patch(client, bob, refcode, {"name": "second", "status": "consumed"}).status_code == 200
    block = add_comment(client, alice, refcode, "hello")

    listing = versions(client, alice, refcode)
    assert [(v["number"], v["action"]) for v in listing] == [
        (4, "block_create"),
        (3, "update"),
        (2, "update"),
        (1, "create"),
    ]
    users = [v["user"]["id"] for v in listing]
    assert users == [alice.id, bob.id, alice.id, alice.id]
    assert all(set(v) == {"number", "action", "user", "created_at"} for v in listing)
    assert listing[2]["user"]["display_name"] == alice.email.split("@")[0]

    first = client.get(f"/items/{refcode}/versions/1", headers=alice.headers)
    assert first.status_code == 200
    assert (first.json["number"], first.json["action"]) == (1, "create")
    snapshot = first.json["snapshot"]
    assert (snapshot["name"], snapshot["chemical_formula"], snapshot["status"]) == (
        "first",
        "NaCl",
        "planned",
    )
    assert snapshot["refcode"] == refcode and snapshot["version"] == 1
    assert snapshot["blocks"] == [] and snapshot["file_ids"] == []
    assert snapshot["creator_ids"] == [alice.id] and snapshot["collections"] == []

    third = client.get(f"/items/{refcode}/versions/3", headers=alice.headers).json
    assert third["user"]["id"] == bob.id
    assert (third["snapshot"]["name"], third["snapshot"]["status"]) == ("second", "consumed")
    assert third["snapshot"]["collections"] == ["group"]
    fourth = client.get(f"/items/{refcode}/versions/4", headers=alice.headers).json
    assert [b["id"] for b in fourth["snapshot"]["blocks"]] == [block["id"]]
    assert fourth["snapshot"]["blocks"][0]["data"] == {"text": "hello"}

    page = client.get(f"/items/{refcode}/versions?page_size=3&page=2", headers=alice.headers)
    assert [v["number"] for v in page.json] == [1]
    assert json.loads(page.headers["X-Pagination"])["total"] == 4

    assert_error(client.get(f"/items/{refcode}/versions/5", headers=alice.headers), 404)
    assert_error(client.get(f"/items/{refcode}/versions/0", headers=alice.headers), 404)
    outsider = labvault_make_user(shared_app)
    assert_error(client.get(f"/items/{refcode}/versions", headers=outsider.headers), 404)
    assert_error(client.get(f"/items/{refcode}/versions/1", headers=outsider.headers), 404)

    with shared_app.app_context():
        rows = get_session().execute(
            sa.select(ItemVersion.number, ItemVersion.action, ItemVersion.user_id)
            .join(Item, Item.id == ItemVersion.item_id)
            .where(Item.refcode == refcode)
            .order_by(ItemVersion.number)
        )
        assert [tuple(row) for row in rows] == [
            (1, "create", alice.id),
            (2, "update", alice.id),
            (3, "update", bob.id),
            (4, "block_create", alice.id),
        ]


def test_restoring_a_version_brings_back_fields_and_blocks(shared_app, labvault_make_user):
    client = shared_app.test_client()
    alice = labvault_make_user(shared_app)
    other = create(client, alice, name="other")
    item = create(
        client,
        alice,
        name="original",
        description="as made",
        date="2024-02-02",
        chemical_formula="LiCoO2",
        relationships=[{"refcode": other["refcode"], "relation": "other"}],
    )
    refcode = item["refcode"]
    block = add_comment(client, alice, refcode, "**first** note")  # version 2
    kept = add_comment(client, alice, refcode, "kept")  # version 3
    response = client.patch(
        block_url(refcode, block),
        json={"data": {"text": "changed"}},
        headers=with_etag(alice, f'"block-{block["id"]}@1"'),
    )
    assert response.status_code == 200  # version 4
    response = client.delete(
        block_url(refcode, block), headers=with_etag(alice, response.headers["ETag"])
    )
    assert response.status_code == 204  # version 5
    response = patch(
        client,
        alice,
        refcode,
        {
            "name": "changed",
            "description": "",
            "date": None,
            "chemical_formula": None,
            "synthesis_description": "added later",
            "relationships": [],
        },
    )
    assert response.status_code == 200  # version 6

    restore_url = f"/items/{refcode}/versions/3/restore"
    assert_error(client.post(restore_url, headers=alice.headers), 428)
    assert_error(client.post(restore_url, headers=with_etag(alice, f'"{refcode}@5"')), 412)
    stale_block = client.get(block_url(refcode, kept), headers=alice.headers).headers["ETag"]
    response = client.post(restore_url, headers=with_etag(alice, f'"{refcode}@6"'))
    assert response.status_code == 200, response.json
    restored = response.json
    assert response.headers["ETag"] == f'"{refcode}@7"'
    assert restored["version"] == 7
    assert (restored["name"], restored["description"], restored["date"]) == (
        "original",
        "as made",
        "2024-02-02",
    )
    assert restored["chemical_formula"] == "LiCoO2"
    assert "synthesis_description" not in restored
    assert [(r["refcode"], r["relation"]) for r in restored["relationships"]] == [
        (other["refcode"], "other")
    ]

    blocks = client.get(f"/items/{refcode}/blocks", headers=alice.headers).json
    assert [(b["id"], b["data"]["text"]) for b in blocks] == [
        (block["id"], "**first** note"),
        (kept["id"], "kept"),
    ]
    assert "<strong>first</strong>" in blocks[0]["computed"]["html"]
    # the restored blocks are new versions: an ETag read before is stale
    response = client.patch(
        block_url(refcode, kept), json={"title": "x"}, headers=with_etag(alice, stale_block)
    )
    assert_error(response, 412)

    listing = versions(client, alice, refcode)
    assert [v["action"] for v in listing] == [
        "restore",
        "update",
        "block_delete",
        "block_update",
        "block_create",
        "block_create",
        "create",
    ]
    latest = client.get(f"/items/{refcode}/versions/7", headers=alice.headers).json
    assert latest["snapshot"]["name"] == "original"
    assert len(latest["snapshot"]["blocks"]) == 2
    assert_error(
        client.post(f"/items/{refcode}/versions/99/restore", headers=with_etag(alice, "*")), 404
    )

    # restoring a version from before a block existed removes the block again
    response = client.post(
        f"/items/{refcode}/versions/1/restore", headers=with_etag(alice, f'"{refcode}@7"')
    )
    assert response.status_code == 200
    assert client.get(f"/items/{refcode}/blocks", headers=alice.headers).json == []
    with shared_app.app_context():
        count = get_session().scalar(sa.select(sa.func.count()).select_from(Block))
        assert count == 0

    reader = labvault_make_user(shared_app, role="manager")
    assert_error(client.post(restore_url, headers=with_etag(reader, "*")), 403)


def test_trash_restore_and_purge(shared_app, labvault_make_user):
    client = shared_app.test_client()
    alice = labvault_make_user(shared_app)
    bob = labvault_make_user(shared_app)
    admin = labvault_make_user(shared_app, role="admin")
    item = create(client, alice, name="to trash", item_id="trashme")
    refcode = item["refcode"]
    block = add_comment(client, alice, refcode, "still here")  # version 2
    keep = create(client, alice, name="stays")
    bobs = create(client, bob, name="bob's")

    response = client.delete(f"/items/{refcode}", headers=with_etag(alice, f'"{refcode}@2"'))
    assert response.status_code == 204
    assert_error(client.get(f"/items/{refcode}", headers=alice.headers), 404)
    assert_error(client.get("/items/by-item-id/trashme", headers=alice.headers), 404)
    assert_error(client.get(f"/items/{refcode}/blocks", headers=alice.headers), 404)
    assert refcode not in [i["refcode"] for i in client.get("/items", headers=alice.headers).json]
    assert_error(client.delete(f"/items/{refcode}", headers=with_etag(alice, "*")), 404)
    # the item_id stays reserved while the item is in the trash
    response = client.post(
        "/items", json={"type": "sample", "item_id": "trashme"}, headers=alice.headers
    )
    assert_error(response, 409)

    response = client.get("/trash", headers=alice.headers)
    assert response.status_code == 200
    assert [entry["refcode"] for entry in response.json] == [refcode]
    entry = response.json[0]
    assert entry["deleted_by"]["id"] == alice.id and entry["deleted_at"]
    assert (entry["name"], entry["version"]) == ("to trash", 3)
    assert json.loads(response.headers["X-Pagination"])["total"] == 1
    assert client.get("/trash", headers=bob.headers).json == []  # not his to restore
    assert [e["refcode"] for e in client.get("/trash", headers=admin.headers).json] == [refcode]
    assert_error(client.post(f"/trash/{refcode}/restore", headers=bob.headers), 404)
    assert_error(client.post(f"/trash/{keep['refcode']}/restore", headers=alice.headers), 404)

    response = client.post(f"/trash/{refcode}/restore", headers=alice.headers)
    assert response.status_code == 200
    assert response.json["version"] == 4 and response.json["deleted_at"] is None
    assert response.headers["ETag"] == f'"{refcode}@4"'
    got = client.get(f"/items/{refcode}", headers=alice.headers)
    assert got.status_code == 200 and got.json["name"] == "to trash"
    blocks = client.get(f"/items/{refcode}/blocks", headers=alice.headers).json
    assert [(b["id"], b["data"]) for b in blocks] == [(block["id"], {"text": "still here"})]
    assert client.get("/items/by-item-id/trashme", headers=alice.headers).status_code == 200
    assert client.get("/trash", headers=alice.headers).json == []
    actions = [v["action"] for v in versions(client, alice, refcode)]
    assert actions == ["restore", "delete", "block_create", "create"]

    # purging: admins only, items in the trash only
    for target in (item, bobs):
        etag = current_etag(client, admin, target["refcode"])
        response = client.delete(f"/items/{target['refcode']}", headers=with_etag(admin, etag))
        assert response.status_code == 204
    assert_error(client.delete(f"/trash/{refcode}", headers=alice.headers), 403)
    assert_error(client.delete(f"/trash/{keep['refcode']}", headers=admin.headers), 404)
    assert client.delete(f"/trash/{refcode}", headers=admin.headers).status_code == 204
    assert_error(client.delete(f"/trash/{refcode}", headers=admin.headers), 404)
    assert_error(client.post(f"/trash/{refcode}/restore", headers=admin.headers), 404)
    assert_error(client.get(f"/items/{refcode}", headers=admin.headers), 404)
    assert [e["refcode"] for e in client.get("/trash", headers=admin.headers).json] == [
        bobs["refcode"]
    ]
    with shared_app.app_context():
        session = get_session()
        assert session.scalar(sa.select(Item.id).where(Item.refcode == refcode)) is None
        assert session.scalar(sa.select(sa.func.count()).select_from(Block)) == 0
        left = session.scalars(sa.select(ItemVersion.item_id).distinct())
        assert len(list(left)) == 2  # keep and bobs: nothing of the purged item
    # the freed item_id can be used again
    assert create(client, alice, item_id="trashme")["item_id"] == "trashme"


def test_purged_constituent_does_not_block_changes(shared_app, labvault_make_user):
    client = shared_app.test_client()
    alice = labvault_make_user(shared_app)
    admin = labvault_make_user(shared_app, role="admin")
    precursor = create(client, alice, name="precursor")
    product = create(client, alice, synthesis_constituents=[{"item": precursor["refcode"]}])
    refcode = product["refcode"]
    response = client.delete(
        f"/items/{precursor['refcode']}", headers=with_etag(alice, f'"{precursor["refcode"]}@1"')
    )
    assert response.status_code == 204
    assert client.delete(f"/trash/{precursor['refcode']}", headers=admin.headers).status_code == 204

    response = patch(client, alice, refcode, {"name": "after the purge"})
    assert response.status_code == 200, response.json
    assert response.json["relationships"] == []
    assert response.json["synthesis_constituents"][0]["item"] == precursor["refcode"]
    response = client.post(
        f"/items/{refcode}/versions/1/restore", headers=with_etag(alice, f'"{refcode}@2"')
    )
    assert response.status_code == 200, response.json
    assert response.json["name"] == ""
    # naming the purged item anew is refused
    response = patch(
        client,
        alice,
        refcode,
        {
            "synthesis_constituents": [],
            "relationships": [{"refcode": precursor["refcode"], "relation": "other"}],
        },
    )
    assert_error(response, 422)
