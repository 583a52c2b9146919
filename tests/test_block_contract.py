"""The block-type contract, as a plugin's block type meets it through the API.

What the core checks before ``compute``, ``render_png`` failing like ``compute`` does (a
409, never a 500), plots drawn once per content and type version, and a type's new
``version`` computing stored blocks again one at a time as they are read.
"""

from __future__ import annotations

import io
import logging
import sys
from typing import Any

import pytest
from labvault.files_gc import collect_garbage
from labvault.web.session import get_session
from PIL import Image

from tests.records import assert_error
from tests.test_blocks import create_item, upload, with_etag

CONTRACT_PLUGIN = """
    import io

    import marshmallow as ma
    from PIL import Image
    from labvault.plugin import BlockType, ProcessingError, hookimpl

    CALLS = []  # (method, tag) of each call, in order

    class PatternData(ma.Schema):
        tag = ma.fields.String(load_default="")
        draw = ma.fields.String(load_default="ok")
        colour = ma.fields.String(load_default="black")

    class PatternOptions(ma.Schema):
        margin = ma.fields.Integer(load_default=0)  # drawn only: compute ignores it

    class Pattern(BlockType):
        name = "pattern"
        version = "1"
        accepted_file_extensions = (".xy",)
        max_files = 1
        DataSchema = PatternData
        OptionsSchema = PatternOptions

        def compute(self, data, files):
            CALLS.append(("compute", data["tag"]))
            lines = 0
            for file in files:
                with self.host.files.open(file.sha256) as stream:
                    lines += len(stream.read().splitlines())
            return {"lines": lines, "by": self.version}

        def render_png(self, data, computed, files):
            CALLS.append(("render_png", data["tag"]))
            if data["draw"] == "refuse":
                raise ProcessingError("no peaks to draw")
            if data["draw"] == "crash":
                raise RuntimeError("cannot open /srv/secret/fonts")
            buffer = io.BytesIO()
            width = computed["lines"] + 1 + self.options["margin"]
            Image.new("RGB", (width, 1), data["colour"]).save(buffer, "PNG")
            return buffer.getvalue()

    @hookimpl
    def labvault_block_types():
        return [Pattern]
"""


@pytest.fixture
def plugin(dists):
    """The contract plugin's module (CALLS, Pattern), installed for this test."""
    module = dists.add("pattern", CONTRACT_PLUGIN)
    return lambda: sys.modules[module]


@pytest.fixture
def lab(plugin, labvault_make_app, labvault_make_user):
    """An app with the plugin, a user, an item with a two-line .xy file: (client, user,
    refcode, file id)."""
    app = labvault_make_app(PLUGINS=["pattern"])
    client, alice = app.test_client(), labvault_make_user(app)
    refcode = create_item(client, alice)
    xy = upload(client, alice, refcode, "si.xy", b"28.4 100\n47.3 55\n")["id"]
    return client, alice, refcode, xy


def add(client: Any, user: Any, refcode: str, **body: Any) -> Any:
    body = {"block_type": "pattern", **body}
    return client.post(f"/items/{refcode}/blocks", json=body, headers=user.headers)


def calls(plugin: Any, method: str) -> list[str]:
    return [tag for called, tag in plugin().CALLS if called == method]


def test_a_file_the_type_does_not_read_never_reaches_compute(plugin, lab):
    client, alice, refcode, _ = lab
    csv = upload(client, alice, refcode, "si.csv", b"28.4,100\n")["id"]

    response = add(client, alice, refcode, data={"tag": "csv"}, file_ids=[csv])

    # the block is kept, with the core's error instead of results
    assert response.status_code == 201
    assert response.json["computed"] == {}
    assert response.json["error"] == "si.csv: a pattern block reads .xy files"
    assert calls(plugin, "compute") == []
    plot = f"/items/{refcode}/blocks/{response.json['id']}/plot.png"
    assert_error(client.get(plot, headers=alice.headers), 409)
    assert calls(plugin, "render_png") == []


def test_too_many_files_or_bad_data_are_refused_before_compute(plugin, lab):
    client, alice, refcode, xy = lab
    other = upload(client, alice, refcode, "ge.xy", b"27.3 100\n")["id"]

    too_many = assert_error(add(client, alice, refcode, file_ids=[xy, other]), 422, "file_ids")
    assert too_many["errors"]["json"]["file_ids"] == ["a pattern block takes at most 1"]
    assert_error(add(client, alice, refcode, data={"tag": 3}), 422, "data")
    elsewhere = create_item(client, alice)
    foreign = upload(client, alice, elsewhere, "c.xy", b"1 2\n")["id"]
    assert_error(add(client, alice, refcode, file_ids=[foreign]), 422, "file_ids")
    assert client.get(f"/items/{refcode}/blocks", headers=alice.headers).json == []
    assert calls(plugin, "compute") == []

    # a change that breaks a rule is refused the same way and leaves the block as it was
    block = add(client, alice, refcode, data={"tag": "ok"}, file_ids=[xy])
    assert block.status_code == 201 and block.json["computed"] == {"lines": 2, "by": "1"}
    url = f"/items/{refcode}/blocks/{block.json['id']}"
    headers = with_etag(alice, block.headers["ETag"])
    assert_error(client.patch(url, json={"file_ids": [xy, other]}, headers=headers), 422)
    assert calls(plugin, "compute") == ["ok"]


def test_a_plot_is_drawn_once_per_content_and_type_version(plugin, lab):
    client, alice, refcode, xy = lab
    block = add(client, alice, refcode, data={"tag": "si"}, file_ids=[xy]).json
    url = f"/items/{refcode}/blocks/{block['id']}"

    first = client.get(f"{url}/plot.png", headers=alice.headers)
    again = client.get(f"{url}/plot.png", headers=alice.headers)

    assert first.status_code == again.status_code == 200
    assert first.mimetype == "image/png" and first.data == again.data
    assert Image.open(io.BytesIO(first.data)).size == (3, 1)
    assert first.headers["ETag"] == again.headers["ETag"]
    assert calls(plugin, "render_png") == ["si"]

    # a new title changes nothing drawn; new data does
    etag = client.get(url, headers=alice.headers).headers["ETag"]
    renamed = client.patch(url, json={"title": "Si"}, headers=with_etag(alice, etag))
    assert client.get(f"{url}/plot.png", headers=alice.headers).data == first.data
    assert calls(plugin, "render_png") == ["si"]
    client.patch(
        url,
        json={"data": {"tag": "si", "colour": "red"}},
        headers=with_etag(alice, renamed.headers["ETag"]),
    )
    red = client.get(f"{url}/plot.png", headers=alice.headers)
    assert red.status_code == 200 and red.data != first.data
    assert red.headers["ETag"] != first.headers["ETag"]
    assert calls(plugin, "render_png") == ["si", "si"]

    # the picture is read back from the file store, where files gc leaves it
    app = client.application
    with app.app_context():
        store = app.extensions["labvault"].file_store
        collect_garbage(get_session(), store, grace_seconds=0)
    plugin().CALLS.clear()
    assert client.get(f"{url}/plot.png", headers=alice.headers).data == red.data
    assert calls(plugin, "render_png") == []


def test_a_plot_is_drawn_again_when_the_types_options_change(plugin, lab, labvault_make_app):
    client, alice, refcode, xy = lab
    block = add(client, alice, refcode, data={"tag": "si"}, file_ids=[xy]).json
    url = f"/items/{refcode}/blocks/{block['id']}/plot.png"
    narrow = client.get(url, headers=alice.headers)
    assert Image.open(io.BytesIO(narrow.data)).size == (3, 1)

    # the deployer widens the margin: same data, files and version, another picture
    after = labvault_make_app(PLUGINS=["pattern"], BLOCK_TYPES={"pattern": {"margin": 2}})
    wide = after.test_client().get(url, headers=alice.headers)

    assert wide.status_code == 200 and Image.open(io.BytesIO(wide.data)).size == (5, 1)
    assert wide.headers["ETag"] != narrow.headers["ETag"]
    assert calls(plugin, "render_png") == ["si", "si"]


def test_a_plot_that_fails_is_the_blocks_error_and_a_409(plugin, lab, caplog):
    client, alice, refcode, xy = lab
    refused = add(client, alice, refcode, data={"tag": "r", "draw": "refuse"}, file_ids=[xy])
    url = f"/items/{refcode}/blocks/{refused.json['id']}"

    answer = assert_error(client.get(f"{url}/plot.png", headers=alice.headers), 409)

    assert answer["message"] == "the block has no plot: its plot failed: no peaks to draw"
    stored = client.get(url, headers=alice.headers)
    assert stored.json["error"] == "its plot failed: no peaks to draw"
    assert stored.json["computed"] == {"lines": 2, "by": "1"}
    assert stored.json["version"] == refused.json["version"] + 1
    assert stored.headers["ETag"] != refused.headers["ETag"]
    # kept: asked again, the answer is the same and the type is not called
    assert client.get(f"{url}/plot.png", headers=alice.headers).json["message"] == answer["message"]
    assert calls(plugin, "render_png") == ["r"]

    # another exception is a bug of the type: logged, its text not shown
    crashed = add(client, alice, refcode, data={"tag": "c", "draw": "crash"}, file_ids=[xy])
    url = f"/items/{refcode}/blocks/{crashed.json['id']}"
    with caplog.at_level(logging.ERROR):
        answer = assert_error(client.get(f"{url}/plot.png", headers=alice.headers), 409)
    assert answer["message"] == (
        "the block has no plot: the pattern block type failed to draw its plot "
        "(its error is in the server's log)"
    )
    assert "secret" not in client.get(url, headers=alice.headers).get_data(as_text=True)
    assert "cannot open /srv/secret/fonts" in caplog.text

    # a change of the block draws again, and may succeed
    fixed = client.patch(
        url,
        json={"data": {"tag": "c"}},
        headers=with_etag(alice, client.get(url, headers=alice.headers).headers["ETag"]),
    )
    assert fixed.status_code == 200 and fixed.json["error"] is None
    assert client.get(f"{url}/plot.png", headers=alice.headers).status_code == 200


def test_a_new_type_version_computes_each_block_again_when_it_is_read(
    plugin, lab, labvault_make_app
):
    client, alice, refcode, xy = lab
    first = add(client, alice, refcode, data={"tag": "first"}, file_ids=[xy]).json
    second = add(client, alice, refcode, data={"tag": "second"}, file_ids=[xy]).json
    assert first["computed"]["by"] == second["computed"]["by"] == "1"
    plugin().Pattern.version = "2"  # the plugin upgraded, on the same database
    plugin().CALLS.clear()

    new = labvault_make_app(PLUGINS=["pattern"])
    client = new.test_client()

    assert calls(plugin, "compute") == []  # not at startup
    url = f"/items/{refcode}/blocks/{first['id']}"
    read = client.get(url, headers=alice.headers)
    assert read.status_code == 200
    assert read.json["computed"] == {"lines": 2, "by": "2"}
    assert read.json["version"] == first["version"] + 1
    assert calls(plugin, "compute") == ["first"]  # only the block read
    assert client.get(url, headers=alice.headers).json == read.json
    assert calls(plugin, "compute") == ["first"]

    listed = client.get(f"/items/{refcode}/blocks", headers=alice.headers).json
    assert [b["computed"]["by"] for b in listed] == ["2", "2"]
    assert calls(plugin, "compute") == ["first", "second"]
    # the new version draws its own plot
    assert client.get(f"{url}/plot.png", headers=alice.headers).status_code == 200
    assert calls(plugin, "render_png") == ["first"]
