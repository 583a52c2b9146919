"""Files through the API: upload, metadata, download, unlink, permissions, `labvault files gc`.

Every test runs on SQLite, MariaDB and PostgreSQL (see conftest.py) and looks at the
file store on disk: an upload that fails must leave nothing there, not even a temp file.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

import flask
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from labvault.cli import cli, main
from labvault.db import utcnow
from labvault.files import service as files_service
from labvault.files.models import StoredFile, item_files
from labvault.files_gc import collect_garbage
from labvault.items.models import Item
from labvault.plugin import FileStore
from labvault.web.session import get_session
from labvault.web.uploads import UploadRequest
from werkzeug.http import parse_options_header

CSV = b"time,voltage\n0,1.5\n1,1.6\n"
BOUNDARY = "labvault-test-boundary"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def store_of(app: flask.Flask) -> FileStore:
    return app.extensions["labvault"].file_store


def content_files(app: flask.Flask) -> list[Path]:
    """Stored content: every file under the store's root but temp files and the lock."""
    root = store_of(app).root
    return sorted(
        path
        for path in root.rglob("*")
        if path.is_file() and path.name != ".lock" and path.relative_to(root).parts[0] != "tmp"
    )


def temp_files(app: flask.Flask) -> list[Path]:
    temp = store_of(app).temp_directory
    return sorted(temp.iterdir()) if temp.is_dir() else []


def new_item(client: Any, user: Any, item_type: str = "sample") -> str:
    response = client.post("/items", json={"type": item_type, "name": "x"}, headers=user.headers)
    assert response.status_code == 201, response.json
    refcode: str = response.json["refcode"]
    return refcode


def upload(
    client: Any, user: Any, refcode: str, content: bytes = CSV, name: str = "data.csv"
) -> Any:
    return client.post(
        f"/items/{refcode}/files",
        data={"file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
        headers=user.headers,
    )


def multipart(disposition: str, content: bytes) -> bytes:
    """A multipart body of one part, with its Content-Disposition parameters as given."""
    return (
        (
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; {disposition}\r\n"
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


def post_raw(client: Any, user: Any, refcode: str, **kwargs: Any) -> Any:
    """POST a hand-made multipart body (``data`` or ``input_stream``) as an upload."""
    return client.post(
        f"/items/{refcode}/files",
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
        headers=user.headers | kwargs.pop("headers", {}),
        **kwargs,
    )


def latest_version(client: Any, user: Any, refcode: str) -> dict[str, Any]:
    number = client.get(f"/items/{refcode}/versions", headers=user.headers).json[0]["number"]
    detail: dict[str, Any] = client.get(
        f"/items/{refcode}/versions/{number}", headers=user.headers
    ).json
    return detail


@pytest.fixture
def app(labvault_make_app: Any) -> flask.Flask:
    made: flask.Flask = labvault_make_app()
    return made


@pytest.fixture
def client(app: flask.Flask) -> Any:
    return app.test_client()


@pytest.fixture
def owner(app: flask.Flask, labvault_make_user: Any) -> Any:
    return labvault_make_user(app)


# --- upload, metadata, download -------------------------------------------------------


def test_upload_is_stored_once_attached_versioned_and_downloadable(app, client, owner, monkeypatch):
    def copying(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the upload was copied instead of renamed into place")

    # uploads are written into the store while they arrive, never copied again
    monkeypatch.setattr(FileStore, "write", copying)
    refcode = new_item(client, owner)

    response = upload(client, owner, refcode)

    assert response.status_code == 201, response.json
    created = response.json
    digest = sha256_of(CSV)
    assert {k: created[k] for k in ("name", "size", "sha256", "media_type", "origin")} == {
        "name": "data.csv",
        "size": len(CSV),
        "sha256": digest,
        "media_type": "text/csv",
        "origin": "upload",
    }
    assert created["created_by"] == {"id": owner.id, "display_name": owner.email.split("@")[0]}
    assert created["created_at"]
    assert created["items"] == [refcode]
    assert created["content_url"] == f"/files/{created['id']}/content"
    assert response.headers["Location"].endswith(f"/files/{created['id']}")
    assert client.get(f"/files/{created['id']}", headers=owner.headers).json == created
    listed = client.get(f"/items/{refcode}/files", headers=owner.headers)
    assert listed.json == [created]
    version = latest_version(client, owner, refcode)
    assert version["action"] == "file_add"
    assert version["snapshot"]["file_ids"] == [created["id"]]

    download = client.get(created["content_url"], headers=owner.headers)

    assert download.status_code == 200
    assert download.data == CSV
    assert sha256_of(download.data) == digest
    assert download.headers["ETag"] == f'"{digest}"'
    assert content_files(app) == [store_of(app).path_for(digest)]
    assert temp_files(app) == []


def test_identical_content_is_two_files_but_stored_once(app, client, owner):
    first_item, second_item = new_item(client, owner), new_item(client, owner)

    first = upload(client, owner, first_item, name="run1.csv").json
    second = upload(client, owner, second_item, name="run2.csv").json
    again = upload(client, owner, first_item, name="run1-again.csv").json

    assert len({first["id"], second["id"], again["id"]}) == 3
    assert first["sha256"] == second["sha256"] == again["sha256"]
    assert [
        f["name"] for f in client.get(f"/items/{first_item}/files", headers=owner.headers).json
    ] == ["run1.csv", "run1-again.csv"]
    assert content_files(app) == [store_of(app).path_for(first["sha256"])]
    assert temp_files(app) == []


def test_uploads_copied_by_another_request_class_work_the_same(app, client, owner):
    assert app.request_class is UploadRequest
    app.request_class = flask.Request  # e.g. a deployment with a request class of its own
    refcode = new_item(client, owner)

    response = upload(client, owner, refcode, content=b"copied")

    assert response.status_code == 201
    assert response.json["sha256"] == sha256_of(b"copied")
    assert client.get(response.json["content_url"], headers=owner.headers).data == b"copied"
    assert temp_files(app) == []


def test_ranges_conditional_downloads_and_lost_content(app, client, owner, caplog):
    content = bytes(range(256))
    created = upload(client, owner, new_item(client, owner), content, "spectrum.bin").json
    url, etag = created["content_url"], f'"{created["sha256"]}"'

    part = client.get(url, headers=owner.headers | {"Range": "bytes=10-19"})
    unchanged = client.get(url, headers=owner.headers | {"If-None-Match": etag})
    outside = client.get(url, headers=owner.headers | {"Range": "bytes=1000-"})
    store_of(app).path_for(created["sha256"]).unlink()  # lost by the disk, say
    lost = client.get(url, headers=owner.headers)

    assert part.status_code == 206
    assert part.data == content[10:20]
    assert part.headers["Content-Range"] == "bytes 10-19/256"
    assert unchanged.status_code == 304
    assert unchanged.data == b""
    assert outside.status_code == 416
    assert outside.json["code"] == 416
    assert outside.headers["Content-Range"] == "bytes */256"
    assert lost.status_code == 500
    assert (
        lost.json["message"]
        == f"the content of file {created['id']} is missing from the file store"
    )
    assert created["sha256"] in caplog.text


NAMES = [
    # Content-Disposition parameters sent, name stored, plain (ASCII) filename sent back
    ('filename="../../etc/passwd"', "passwd", "passwd"),
    ('filename="C:\\\\Users\\\\me\\\\run.csv"', "run.csv", "run.csv"),
    (
        "filename*=UTF-8''R%C3%A9sum%C3%A9%20%E2%80%93%20donn%C3%A9es.csv",
        "Résumé \u2013 données.csv",  # with an en dash
        "Resume donnees.csv",
    ),
    ("filename*=UTF-8''%E6%95%B0%E6%8D%AE.csv", "数据.csv", "file.csv"),
    (
        "filename*=UTF-8''say%20%22hi%22%0D%0ASet-Cookie%3A%20a%3Db.txt",
        "say hiSet-Cookie: a=b.txt",
        "say hiSet-Cookie: a=b.txt",
    ),
]


def test_downloads_are_attachments_with_safe_names_and_types(client, owner):
    refcode = new_item(client, owner)

    for disposition, stored_name, ascii_name in NAMES:
        body = multipart(f'name="file"; {disposition}', CSV)
        response = post_raw(client, owner, refcode, data=body)

        assert response.status_code == 201, response.json
        assert response.json["name"] == stored_name
        download = client.get(response.json["content_url"], headers=owner.headers)
        header = download.headers["Content-Disposition"]
        assert "\r" not in header and "\n" not in header
        kind, params = parse_options_header(header)
        assert kind == "attachment"
        assert params["filename"] == stored_name  # werkzeug prefers filename* when present
        plain = header.split("; filename*=")[0]  # for clients that ignore filename*
        assert parse_options_header(plain)[1]["filename"] == ascii_name

    page = b"<html><script>alert(document.cookie)</script></html>"
    created = upload(client, owner, refcode, page, "page.html").json
    download = client.get(created["content_url"], headers=owner.headers)

    assert created["media_type"] == "text/html"  # what it is ...
    assert download.headers["Content-Type"] == "application/octet-stream"  # ... not run
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.data == page


# --- bad uploads ----------------------------------------------------------------------


def test_bad_uploads_are_clear_4xx_and_leave_nothing(app, client, owner):
    refcode = new_item(client, owner)
    version = latest_version(client, owner, refcode)["number"]

    empty = upload(client, owner, refcode, b"", "empty.csv")
    missing = client.post(
        f"/items/{refcode}/files",
        data={"upload": (io.BytesIO(CSV), "data.csv")},
        content_type="multipart/form-data",
        headers=owner.headers,
    )
    as_json = client.post(f"/items/{refcode}/files", json={"file": "x"}, headers=owner.headers)
    no_such_item = upload(client, owner, "test:NOSUCH")

    assert (empty.status_code, empty.json["errors"]) == (422, {"files": {"file": ["empty file"]}})
    assert "empty file" in empty.json["message"]
    assert missing.status_code == 422
    # the part under another name is missing as "file" and unknown as "upload"
    assert sorted(missing.json["errors"]["files"]) == ["file", "upload"]
    # a body in another media type is refused as such, not read as a missing field
    assert as_json.status_code == 415
    assert "multipart/form-data" in as_json.json["message"]
    assert no_such_item.status_code == 404
    assert client.get(f"/items/{refcode}/files", headers=owner.headers).json == []
    assert latest_version(client, owner, refcode)["number"] == version
    assert content_files(app) == []
    assert temp_files(app) == []


def test_uploads_over_the_limit_or_cut_off_leave_nothing_on_disk(
    labvault_make_app, labvault_make_user
):
    # above werkzeug's 64 KiB read size, so a streamed upload is cut off midway
    limit = 100_000
    app = labvault_make_app(MAX_CONTENT_LENGTH=limit)
    client, owner = app.test_client(), labvault_make_user(app)
    refcode = new_item(client, owner)
    too_big = multipart('name="file"; filename="big.bin"', b"x" * 2 * limit)

    announced = upload(client, owner, refcode, b"x" * 2 * limit, "big.bin")
    # chunked, so no Content-Length: werkzeug stops at the limit while writing the part
    streamed = post_raw(
        client,
        owner,
        refcode,
        input_stream=io.BytesIO(too_big),
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    # the client announces more than it sends, then goes away
    cut_off = post_raw(
        client,
        owner,
        refcode,
        input_stream=io.BytesIO(too_big[: limit - 1000]),
        environ_overrides={"CONTENT_LENGTH": str(limit)},
    )

    for response in (announced, streamed):
        assert response.status_code == 413
        assert response.mimetype == "application/json"
        assert response.json["code"] == 413
    assert cut_off.status_code == 400
    assert cut_off.mimetype == "application/json"
    assert upload(client, owner, refcode, b"x" * (limit - 500), "fits.bin").status_code == 201
    assert len(content_files(app)) == 1
    assert temp_files(app) == []


# --- unlinking ------------------------------------------------------------------------


def test_unlinked_file_stays_readable_through_the_version_that_lists_it(
    app, client, owner, labvault_make_user
):
    refcode = new_item(client, owner)
    created = upload(client, owner, refcode).json
    stranger = labvault_make_user(app)

    response = client.delete(f"/items/{refcode}/files/{created['id']}", headers=owner.headers)

    assert response.status_code == 204
    assert client.get(f"/items/{refcode}/files", headers=owner.headers).json == []
    version = latest_version(client, owner, refcode)
    assert (version["action"], version["snapshot"]["file_ids"]) == ("file_remove", [])
    metadata = client.get(f"/files/{created['id']}", headers=owner.headers)
    assert metadata.status_code == 200
    assert metadata.json["items"] == []
    assert client.get(created["content_url"], headers=owner.headers).data == CSV
    assert client.get(f"/files/{created['id']}", headers=stranger.headers).status_code == 404
    again = client.delete(f"/items/{refcode}/files/{created['id']}", headers=owner.headers)
    assert again.status_code == 404
    assert "has no file" in again.json["message"]


def file_block(client: Any, user: Any, refcode: str, file_id: int, title: str) -> int:
    """Add a block of the first block type that takes files, using ``file_id``."""
    kinds = client.get("/block-types", headers=user.headers).json
    kind = next(k for k in kinds if k["max_files"] is None or k["max_files"] > 0)
    response = client.post(
        f"/items/{refcode}/blocks",
        json={"block_type": kind["name"], "title": title, "file_ids": [file_id]},
        headers=user.headers,
    )
    assert response.status_code == 201, response.json
    block_id: int = response.json["id"]
    return block_id


def test_a_file_a_block_uses_cannot_be_unlinked(client, owner):
    refcode = new_item(client, owner)
    created = upload(client, owner, refcode).json
    block_id = file_block(client, owner, refcode, created["id"], "Voltage")

    response = client.delete(f"/items/{refcode}/files/{created['id']}", headers=owner.headers)

    assert response.status_code == 409
    assert f"block {block_id} ('Voltage')" in response.json["message"]
    assert [f["id"] for f in client.get(f"/items/{refcode}/files", headers=owner.headers).json] == [
        created["id"]
    ]


# --- permissions ----------------------------------------------------------------------


def test_files_are_as_private_as_their_items(app, client, owner, labvault_make_user, subtests):
    other = labvault_make_user(app)
    unverified = labvault_make_user(app, status="unverified")
    private = upload(client, owner, new_item(client, owner)).json
    shared_item = new_item(client, owner, "starting_material")
    shared = upload(client, owner, shared_item, b"lab-wide", "msds.txt").json

    for url in (f"/files/{private['id']}", private["content_url"], "/files/999999"):
        with subtests.test(url=url):
            response = client.get(url, headers=other.headers)
            assert response.status_code == 404, url
            assert response.json["message"] == f"no file {url.split('/')[2]}"
    assert client.get(f"/files/{shared['id']}", headers=other.headers).json["items"] == [
        shared_item
    ]
    assert client.get(shared["content_url"], headers=other.headers).data == b"lab-wide"
    assert upload(client, other, private["items"][0]).status_code == 404
    assert upload(client, unverified, shared_item).status_code == 403
    assert (
        client.delete(
            f"/items/{shared_item}/files/{shared['id']}", headers=unverified.headers
        ).status_code
        == 403
    )
    assert upload(client, other, shared_item, b"mine too", "note.txt").status_code == 201
    assert client.get(f"/files/{shared['id']}").status_code == 401


def test_an_upload_checks_its_item_before_and_after_storing(app, client, owner, monkeypatch):
    """The item is read once, before the content is stored (someone who may not change it
    stores nothing); when the file is attached its row is locked and checked again, so
    an item trashed meanwhile takes no file and keeps no version (404)."""
    refcode = new_item(client, owner)
    engine = app.extensions["labvault"].database.engine
    keep = files_service.keep_content

    def keep_and_trash(*args: Any, **kwargs: Any) -> Any:
        kept = keep(*args, **kwargs)
        with engine.begin() as connection:  # another worker trashes it meanwhile
            connection.execute(
                sa.update(Item).where(Item.refcode == refcode).values(deleted_at=utcnow())
            )
        return kept

    monkeypatch.setattr(files_service, "keep_content", keep_and_trash)
    refused = upload(client, owner, refcode)

    assert refused.status_code == 404, refused.json
    assert refused.json["message"] == f"no item {refcode}"
    with engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(item_files)) == 0
        assert connection.scalar(sa.select(Item.version).where(Item.refcode == refcode)) == 1


def test_files_of_trashed_items_are_for_those_who_may_restore_them(
    app, client, owner, labvault_make_user
):
    manager = labvault_make_user(app, role="manager")  # reads everything, restores own items
    refcode = new_item(client, owner)
    created = upload(client, owner, refcode).json
    assert client.get(created["content_url"], headers=manager.headers).status_code == 200
    etag = client.get(f"/items/{refcode}", headers=owner.headers).headers["ETag"]
    trashed = client.delete(f"/items/{refcode}", headers=owner.headers | {"If-Match": etag})
    assert trashed.status_code == 204

    assert client.get(created["content_url"], headers=owner.headers).data == CSV
    assert client.get(created["content_url"], headers=manager.headers).status_code == 404
    assert client.get(f"/files/{created['id']}", headers=manager.headers).status_code == 404


# --- garbage collection ---------------------------------------------------------------


def write_config(app: flask.Flask, path: Path) -> Path:
    settings = app.extensions["labvault"].settings
    keys = ("IDENTIFIER_PREFIX", "SECRET_KEY", "INSTANCE_PATH", "DATABASE_URL", "FILE_DIRECTORY")
    path.write_text("".join(f"{key} = {settings[key]!r}\n" for key in keys))
    return path


def without_labvault_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own LABVAULT_* settings must not reach the command."""
    for name in [n for n in os.environ if n.startswith("LABVAULT_")]:
        monkeypatch.delenv(name)


def test_gc_removes_only_what_nothing_refers_to(
    app, client, owner, labvault_make_user, tmp_path, monkeypatch
):
    admin = labvault_make_user(app, role="admin")
    kept_item, purged_item = new_item(client, owner), new_item(client, owner)
    linked = upload(client, owner, kept_item, b"linked", "linked.txt").json
    in_block = upload(client, owner, kept_item, CSV, "block.csv").json
    file_block(client, owner, kept_item, in_block["id"], "")
    in_version = upload(client, owner, kept_item, b"in a version", "old.txt").json
    client.delete(f"/items/{kept_item}/files/{in_version['id']}", headers=owner.headers)
    orphan = upload(client, owner, purged_item, b"only the purged item", "gone.txt").json
    duplicate = upload(client, owner, purged_item, b"linked", "copy.txt").json
    etag = client.get(f"/items/{purged_item}", headers=owner.headers).headers["ETag"]
    client.delete(f"/items/{purged_item}", headers=owner.headers | {"If-Match": etag})
    assert client.delete(f"/trash/{purged_item}", headers=admin.headers).status_code == 204
    before = content_files(app)
    assert len(before) == 4

    store = app.extensions["labvault"].file_store
    with app.app_context():
        dry = collect_garbage(get_session(), store, grace_seconds=0, dry_run=True)
        assert get_session().get(StoredFile, orphan["id"]) is not None

    assert [f.id for f in dry.files] == [orphan["id"], duplicate["id"]]
    assert dry.content.removed == [orphan["sha256"]]
    assert content_files(app) == before

    without_labvault_environment(monkeypatch)
    runner = CliRunner(env={"LABVAULT_CONFIG": str(write_config(app, tmp_path / "gc.py"))})
    young = runner.invoke(cli, ["files", "gc"])  # everything is younger than an hour
    result = runner.invoke(cli, ["files", "gc", "--grace-seconds", "0"])

    assert young.exit_code == 0, young.output
    assert "nothing to remove" in young.output
    assert result.exit_code == 0, result.output
    assert f"removed file {orphan['id']} gone.txt" in result.output
    assert f"removed file {duplicate['id']} copy.txt" in result.output
    assert f"removed content {orphan['sha256']}" in result.output
    assert f"{len(b'only the purged item')} bytes freed" in result.output
    assert content_files(app) == [p for p in before if p.name != orphan["sha256"]]
    for kept in (linked, in_block, in_version):
        assert client.get(kept["content_url"], headers=owner.headers).status_code == 200
    assert client.get(orphan["content_url"], headers=admin.headers).status_code == 404


def test_gc_errors_are_one_line(tmp_path, monkeypatch, capsys):
    config = tmp_path / "config.py"
    settings = {
        "IDENTIFIER_PREFIX": "test",
        "SECRET_KEY": "k" * 40,
        "INSTANCE_PATH": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'never-upgraded.db'}",
    }
    config.write_text("".join(f"{key} = {value!r}\n" for key, value in settings.items()))
    without_labvault_environment(monkeypatch)
    monkeypatch.setenv("LABVAULT_CONFIG", str(config))

    with pytest.raises(SystemExit) as exit_:
        main(["files", "gc"])

    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "labvault db upgrade" in err


# --- documentation --------------------------------------------------------------------


def test_swagger_ui_gets_a_file_picker_for_uploads(make_app):
    spec = make_app().test_client().get("/openapi.json").json

    body = spec["paths"]["/items/{refcode}/files"]["post"]["requestBody"]["content"]
    schema = spec["components"]["schemas"][
        body["multipart/form-data"]["schema"]["$ref"].split("/")[-1]
    ]
    assert schema["properties"]["file"] == {
        "type": "string",
        "format": "binary",
        "minLength": 1,
        "description": schema["properties"]["file"]["description"],
    }
    assert schema["required"] == ["file"]
