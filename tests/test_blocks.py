"""Blocks: /block-types and /items/<refcode>/blocks (CRUD, If-Match, order, versions).

The built-in ``comment`` block type does most of the work here: the client writes its
Markdown ``data.text`` and the server fills ``computed.html`` (sanitized).
"""

from __future__ import annotations

import io
import time
from typing import Any

import sqlalchemy as sa
from labvault.blocks.models import Block
from labvault.web.session import get_session
from PIL import Image

from tests.records import assert_error
from tests.spreadsheets import MIB, xlsx_bomb, xlsx_bytes


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (2, 2)).save(buffer, format="PNG")
    return buffer.getvalue()


BLOCK_FIELDS = {
    "id",
    "block_type",
    "title",
    "data",
    "file_ids",
    "computed",
    "error",
    "position",
    "version",
}


def with_etag(user: Any, etag: str | None) -> dict[str, str]:
    headers = dict(user.headers)
    if etag is not None:
        headers["If-Match"] = etag
    return headers


def create_item(client: Any, user: Any, **fields: Any) -> str:
    response = client.post("/items", json={"type": "sample", **fields}, headers=user.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    refcode: str = response.json["refcode"]
    return refcode


def add_block(client: Any, user: Any, refcode: str, **body: Any) -> Any:
    body = {"block_type": "comment", **body}
    return client.post(f"/items/{refcode}/blocks", json=body, headers=user.headers)


def item_etag(client: Any, user: Any, refcode: str) -> str:
    etag: str = client.get(f"/items/{refcode}", headers=user.headers).headers["ETag"]
    return etag


def actions(client: Any, user: Any, refcode: str) -> list[str]:
    response = client.get(f"/items/{refcode}/versions?page_size=100", headers=user.headers)
    assert response.status_code == 200
    return [v["action"] for v in reversed(response.json)]


def test_block_types_describe_their_data(shared_app, labvault_make_user):
    client = shared_app.test_client()
    alice = labvault_make_user(shared_app)
    response = client.get("/block-types", headers=alice.headers)
    assert response.status_code == 200
    kinds = {kind["name"]: kind for kind in response.json}
    comment = kinds["comment"]
    assert set(comment) == {
        "name",
        "description",
        "version",
        "accepted_file_extensions",
        "max_files",
        "data_schema",
    }
    assert comment["description"] and comment["version"]
    assert comment["accepted_file_extensions"] == [".png", ".jpg", ".jpeg", ".gif", ".webp"]
    assert comment["max_files"] is None
    assert comment["data_schema"]["type"] == "object"
    assert comment["data_schema"]["properties"]["text"]["type"] == "string"
    assert_error(client.get("/block-types"), 401)


def test_block_crud_with_etags_and_versions(shared_app, labvault_make_user, subtests):
    client = shared_app.test_client()
    alice = labvault_make_user(shared_app)
    refcode = create_item(client, alice)
    etags = [item_etag(client, alice, refcode)]
    text = (
        "**bold** and H<sub>2</sub>O\n"
        "<script>alert(1)</script> <img src=x onerror=alert(2)>\n"
        "[link](javascript:alert(3)) [ok](https://example.org)"
    )
    response = add_block(client, alice, refcode, title="Notes", data={"text": text})
    assert response.status_code == 201, response.json
    block = response.json
    assert set(block) == BLOCK_FIELDS
    assert response.headers["ETag"] == f'"block-{block["id"]}@1"'
    assert (block["block_type"], block["title"], block["data"]) == (
        "comment",
        "Notes",
        {"text": text},
    )
    assert (block["file_ids"], block["error"], block["position"], block["version"]) == (
        [],
        None,
        0,
        1,
    )
    html = block["computed"]["html"]
    assert "<strong>bold</strong>" in html and "<sub>2</sub>" in html
    assert '<a href="https://example.org" rel="noopener noreferrer">ok</a>' in html
    for unsafe in ("<script", "onerror", 'href="javascript'):
        assert unsafe not in html
    etags.append(item_etag(client, alice, refcode))

    url = f"/items/{refcode}/blocks/{block['id']}"
    got = client.get(url, headers=alice.headers)
    assert got.status_code == 200 and got.json == block
    assert got.headers["ETag"] == response.headers["ETag"]
    assert client.get(f"/items/{refcode}/blocks", headers=alice.headers).json == [block]

    # If-Match is needed, and must be the block's own ETag
    assert_error(client.patch(url, json={"title": "x"}, headers=alice.headers), 428)
    assert_error(client.delete(url, headers=alice.headers), 428)
    for stale in (etags[-1], '"block-0@1"', f'"block-{block["id"]}@2"'):
        with subtests.test("stale If-Match", etag=stale):
            stale_headers = with_etag(alice, stale)
            assert_error(client.patch(url, json={"title": "x"}, headers=stale_headers), 412)
            assert_error(client.delete(url, headers=stale_headers), 412)

    first_etag = got.headers["ETag"]
    response = client.patch(
        url, json={"data": {"text": "# Heading"}}, headers=with_etag(alice, first_etag)
    )
    assert response.status_code == 200
    assert response.json["data"] == {"text": "# Heading"}
    assert response.json["computed"] == {"html": "<h1>Heading</h1>\n"}
    assert response.json["title"] == "Notes" and response.json["version"] == 2
    second_etag = response.headers["ETag"]
    assert second_etag == f'"block-{block["id"]}@2"'
    etags.append(item_etag(client, alice, refcode))
    response = client.patch(url, json={"title": "Renamed"}, headers=with_etag(alice, second_etag))
    assert (response.json["title"], response.json["data"]) == ("Renamed", {"text": "# Heading"})
    assert_error(client.patch(url, json={"title": "x"}, headers=with_etag(alice, first_etag)), 412)
    etags.append(item_etag(client, alice, refcode))
    # a comment has no plot
    assert_error(client.get(f"{url}/plot.png", headers=alice.headers), 404)

    response = client.delete(url, headers=with_etag(alice, response.headers["ETag"]))
    assert response.status_code == 204
    etags.append(item_etag(client, alice, refcode))
    assert_error(client.get(url, headers=alice.headers), 404)
    assert_error(client.delete(url, headers=with_etag(alice, "*")), 404)
    assert client.get(f"/items/{refcode}/blocks", headers=alice.headers).json == []
    with shared_app.app_context():
        assert get_session().scalar(sa.select(sa.func.count()).select_from(Block)) == 0

    # every block change is a change of the item: a new ETag and a version
    assert len(set(etags)) == len(etags) == 5
    assert actions(client, alice, refcode) == [
        "create",
        "block_create",
        "block_update",
        "block_update",
        "block_delete",
    ]
    snapshot = client.get(f"/items/{refcode}/versions/3", headers=alice.headers).json["snapshot"]
    assert snapshot["blocks"][0]["data"] == {"text": "# Heading"}
    assert snapshot["blocks"][0]["computed"] == {"html": "<h1>Heading</h1>\n"}
    assert (
        client.get(f"/items/{refcode}/versions/5", headers=alice.headers).json["snapshot"]["blocks"]
        == []
    )


def test_block_order(shared_app, labvault_make_user, subtests):
    client = shared_app.test_client()
    alice = labvault_make_user(shared_app)
    refcode = create_item(client, alice)
    other = create_item(client, alice)
    ids = [add_block(client, alice, refcode, title=f"b{n}").json["id"] for n in range(3)]
    foreign = add_block(client, alice, other).json["id"]
    url = f"/items/{refcode}/blocks/order"

    def order() -> list[tuple[int, int]]:
        blocks = client.get(f"/items/{refcode}/blocks", headers=alice.headers).json
        return [(b["id"], b["position"]) for b in blocks]

    assert order() == [(ids[0], 0), (ids[1], 1), (ids[2], 2)]
    wanted = [ids[2], ids[0], ids[1]]
    response = client.put(url, json={"block_ids": wanted}, headers=alice.headers)
    assert response.status_code == 200
    assert [b["id"] for b in response.json] == wanted
    assert [b["position"] for b in response.json] == [0, 1, 2]
    assert order() == [(ids[2], 0), (ids[0], 1), (ids[1], 2)]
    # a new block goes at the end
    added = add_block(client, alice, refcode).json
    assert added["position"] == 3
    wanted.append(added["id"])

    for body in (
        {"block_ids": wanted[:3]},
        {"block_ids": [*wanted, wanted[0]]},
        {"block_ids": [*wanted[:3], foreign]},
        {"block_ids": [*wanted, 999999]},
        {"block_ids": []},
    ):
        with subtests.test("PUT .../blocks/order", body=body):
            assert_error(client.put(url, json=body, headers=alice.headers), 422, "block_ids")
    assert_error(client.put(url, json={"block_ids": "all"}, headers=alice.headers), 422)
    assert_error(client.put(url, json={}, headers=alice.headers), 422, "block_ids")
    assert_error(client.put(url, json={"block_ids": wanted, "x": 1}, headers=alice.headers), 422)
    assert order() == [(ids[2], 0), (ids[0], 1), (ids[1], 2), (added["id"], 3)]
    assert actions(client, alice, refcode)[-2:] == ["block_order", "block_create"]
    blocks = client.get(f"/items/{refcode}/versions/5", headers=alice.headers).json["snapshot"]
    assert [b["id"] for b in sorted(blocks["blocks"], key=lambda b: b["position"])] == wanted[:3]

    # the other item's block is not reachable through this item
    assert_error(client.get(f"/items/{refcode}/blocks/{foreign}", headers=alice.headers), 404)
    response = client.patch(
        f"/items/{refcode}/blocks/{foreign}", json={"title": "x"}, headers=with_etag(alice, "*")
    )
    assert_error(response, 404)


def test_bad_block_inputs(shared_app, labvault_make_user, subtests):
    client = shared_app.test_client()
    alice = labvault_make_user(shared_app)
    manager = labvault_make_user(shared_app, role="manager")
    stranger = labvault_make_user(shared_app)
    refcode = create_item(client, alice)
    for body, field in [
        ({"block_type": "hologram"}, "block_type"),
        ({"block_type": ""}, "block_type"),
        ({"block_type": None}, "block_type"),
        ({"title": "no type", "block_type": 5}, "block_type"),
        ({"data": {"text": 5}}, "data"),
        ({"data": {"text": "x", "colour": "red"}}, "data"),
        ({"data": "text"}, "data"),
        ({"data": []}, "data"),
        ({"title": "x" * 501}, "title"),
        ({"title": None}, "title"),
        ({"file_ids": [1]}, "file_ids"),
        ({"file_ids": "1"}, "file_ids"),
        ({"computed": {"html": "<b>forged</b>"}}, "computed"),
        ({"error": "none"}, "error"),
        ({"id": 7}, "id"),
        ({"position": 3}, "position"),
    ]:
        with subtests.test("POST .../blocks", body=body):
            assert_error(add_block(client, alice, refcode, **body), 422, field)
    response = client.post(
        f"/items/{refcode}/blocks",
        data='{"block_type": "comment"',
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    assert_error(response, 400)
    assert_error(add_block(client, alice, "test:ZZZZZZ"), 404)
    assert client.get(f"/items/{refcode}/blocks", headers=alice.headers).json == []

    block = add_block(client, alice, refcode, data={"text": "kept"}).json
    url = f"/items/{refcode}/blocks/{block['id']}"
    for changes, field in [
        ({"block_type": "tabular"}, "block_type"),
        ({"data": {"text": ["x"]}}, "data"),
        ({"data": {"unknown": 1}}, "data"),
        ({"computed": {}}, "computed"),
        ({"file_ids": [1]}, "file_ids"),
    ]:
        with subtests.test("PATCH .../blocks/<id>", changes=changes):
            response = client.patch(url, json=changes, headers=with_etag(alice, "*"))
            assert_error(response, 422, field)
    assert_error(client.patch(url, json=["x"], headers=with_etag(alice, "*")), 422)
    got = client.get(url, headers=alice.headers).json
    assert got == block
    assert actions(client, alice, refcode) == ["create", "block_create"]

    # reading an item is not enough to change its blocks; strangers do not see them
    assert client.get(f"/items/{refcode}/blocks", headers=manager.headers).status_code == 200
    assert_error(add_block(client, manager, refcode), 403)
    assert_error(client.patch(url, json={"title": "x"}, headers=with_etag(manager, "*")), 403)
    assert_error(client.delete(url, headers=with_etag(manager, "*")), 403)
    response = client.put(
        f"/items/{refcode}/blocks/order", json={"block_ids": [block["id"]]}, headers=manager.headers
    )
    assert_error(response, 403)
    assert_error(client.get(f"/items/{refcode}/blocks", headers=stranger.headers), 404)
    assert_error(client.get(url, headers=stranger.headers), 404)
    assert_error(add_block(client, stranger, refcode), 404)
    assert_error(client.get(f"/items/{refcode}/blocks"), 401)


def upload(client: Any, user: Any, refcode: str, name: str, content: bytes) -> dict[str, Any]:
    response = client.post(
        f"/items/{refcode}/files",
        data={"file": (io.BytesIO(content), name)},
        headers=user.headers,
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    body: dict[str, Any] = response.json
    return body


def test_blocks_with_files_survive_trash_and_restore(shared_app, labvault_make_user):
    client = shared_app.test_client()
    alice = labvault_make_user(shared_app)
    refcode = create_item(client, alice)
    other = create_item(client, alice)
    table = upload(client, alice, refcode, "cycles.csv", b"cycle,capacity\n1,150\n2,148\n3,147\n")
    notes = upload(client, alice, refcode, "notes.txt", b"just notes\n")
    elsewhere = upload(client, alice, other, "other.csv", b"a,b\n1,2\n")

    # a block may only use files of its own item, and as many as its type takes
    response = add_block(client, alice, refcode, block_type="tabular", file_ids=[elsewhere["id"]])
    assert_error(response, 422, "file_ids")
    response = add_block(
        client, alice, refcode, block_type="tabular", file_ids=[table["id"], notes["id"]]
    )
    assert_error(response, 422, "file_ids")

    response = add_block(client, alice, refcode, block_type="tabular", file_ids=[table["id"]])
    assert response.status_code == 201, response.json
    tabular = response.json
    assert tabular["file_ids"] == [table["id"]] and tabular["error"] is None
    assert tabular["computed"]
    # a file a block type cannot read is the block's error, not a failed request
    response = add_block(client, alice, refcode, block_type="tabular", file_ids=[notes["id"]])
    assert response.status_code == 201
    unreadable = response.json
    assert unreadable["computed"] == {} and "notes.txt" in unreadable["error"]

    # a file in use by a block stays attached
    response = client.delete(f"/items/{refcode}/files/{table['id']}", headers=alice.headers)
    assert_error(response, 409)

    etag = item_etag(client, alice, refcode)
    assert client.delete(f"/items/{refcode}", headers=with_etag(alice, etag)).status_code == 204
    response = client.post(f"/trash/{refcode}/restore", headers=alice.headers)
    assert response.status_code == 200
    blocks = client.get(f"/items/{refcode}/blocks", headers=alice.headers).json
    assert blocks == [tabular, unreadable]
    files = client.get(f"/items/{refcode}/files", headers=alice.headers).json
    assert sorted(f["id"] for f in files) == sorted([table["id"], notes["id"]])

    # restoring a version brings back the blocks with the file links they need
    before = len(actions(client, alice, refcode))
    for block in (tabular, unreadable):
        response = client.delete(
            f"/items/{refcode}/blocks/{block['id']}", headers=with_etag(alice, "*")
        )
        assert response.status_code == 204
    for stored in (table, notes):
        response = client.delete(f"/items/{refcode}/files/{stored['id']}", headers=alice.headers)
        assert response.status_code == 204
    assert client.get(f"/items/{refcode}/files", headers=alice.headers).json == []
    response = client.post(
        f"/items/{refcode}/versions/{before}/restore", headers=with_etag(alice, "*")
    )
    assert response.status_code == 200, response.json
    blocks = client.get(f"/items/{refcode}/blocks", headers=alice.headers).json
    assert [(b["id"], b["file_ids"], b["computed"]) for b in blocks] == [
        (tabular["id"], [table["id"]], tabular["computed"]),
        (unreadable["id"], [notes["id"]], {}),
    ]
    files = client.get(f"/items/{refcode}/files", headers=alice.headers).json
    assert sorted(f["id"] for f in files) == sorted([table["id"], notes["id"]])
    assert actions(client, alice, refcode)[-5:] == [
        "block_delete",
        "block_delete",
        "file_remove",
        "file_remove",
        "restore",
    ]


def test_an_xlsx_bomb_is_the_blocks_error_at_once(shared_app, labvault_make_user):
    client = shared_app.test_client()
    alice = labvault_make_user(shared_app)
    refcode = create_item(client, alice)
    bomb = upload(client, alice, refcode, "bomb.xlsx", xlsx_bomb(64 * MIB))  # 260 KB
    table = upload(client, alice, refcode, "run.xlsx", xlsx_bytes([["t", "v"], [1, 2.5], [2, 4]]))

    started = time.perf_counter()
    response = add_block(client, alice, refcode, block_type="tabular", file_ids=[bomb["id"]])
    elapsed = time.perf_counter() - started

    assert response.status_code == 201
    assert "more than max_unpacked_size" in (response.json["error"] or ""), elapsed
    assert response.json["computed"] == {}
    assert elapsed < 2, f"{elapsed:.2f} s"
    # a workbook that is no bomb is read as before
    response = add_block(client, alice, refcode, block_type="tabular", file_ids=[table["id"]])
    assert response.status_code == 201
    assert response.json["error"] is None
    assert response.json["computed"]["row_count"] == 2


def test_a_comment_shows_images_of_its_item_and_links_to_remote_ones(
    shared_app, labvault_make_user
):
    client = shared_app.test_client()
    alice = labvault_make_user(shared_app)
    refcode = create_item(client, alice)
    plot = upload(client, alice, refcode, "plot.png", png_bytes())
    elsewhere = upload(client, alice, create_item(client, alice), "theirs.png", png_bytes())
    text = (
        f"![plot](/files/{plot['id']}/content) ![pixel](https://tracker.example/p.gif)\n\n"
        f'<img src="https://tracker.example/p.gif?raw"> ![x](/files/{elsewhere["id"]}/content)'
    )

    response = add_block(client, alice, refcode, data={"text": text}, file_ids=[plot["id"]])

    assert response.status_code == 201, response.json
    html = response.json["computed"]["html"]
    assert html.count("<img") == 2
    assert f'<img src="/files/{plot["id"]}/content" alt="plot">' in html
    assert '<a href="https://tracker.example/p.gif" rel="noopener noreferrer">pixel</a>' in html
    assert "<img>" in html  # the raw one, without its address
    assert f'<a href="/files/{elsewhere["id"]}/content" rel="noopener noreferrer">x</a>' in html
    # a comment's images are files of its item
    response = add_block(client, alice, refcode, file_ids=[elsewhere["id"]])
    assert_error(response, 422, "file_ids")
    response = client.delete(f"/items/{refcode}/files/{plot['id']}", headers=alice.headers)
    assert_error(response, 409)  # shown by the comment
