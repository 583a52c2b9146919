"""File sources through the API, with the built-in ``local`` type: the cached listing,
paths kept inside the root, copying a file into the store, and keeping the copy fresh.

Replacing a listing on every database is tested in test_sources_databases.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from labvault.db import begin_write, utcnow
from labvault.files.models import StoredFile
from labvault.sources import listing
from labvault.sources.models import SourceState
from labvault.testing import flipping_link, make_source_tree
from labvault.web.session import get_session

from tests.records import assert_error, create_item

# what differs between databases is in test_sources_databases.py
pytestmark = pytest.mark.parametrize("labvault_database_url", ["sqlite"], indirect=True)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    make_source_tree(root)
    return root


@pytest.fixture
def make_lab(labvault_make_app, labvault_make_user, tree):
    def make(**options: Any) -> Any:
        settings = options.pop("settings", {})
        app = labvault_make_app(
            FILE_SOURCES={"data": {"type": "local", "path": str(tree), **options}}, **settings
        )
        return app, app.test_client(), labvault_make_user(app)

    return make


def entries(client: Any, user: Any, path: str = "", **query: Any) -> Any:
    return client.get(
        "/file-sources/data/entries", query_string={"path": path, **query}, headers=user.headers
    )


def names(answer: Any) -> list[str]:
    return [entry["name"] for entry in answer.json["entries"]]


def set_state(app: Any, **values: Any) -> None:
    with app.app_context():
        session = get_session()
        begin_write(session)
        session.execute(sa.update(SourceState).values(**values))
        session.commit()


def test_sources_are_listed_with_the_state_of_their_listing(make_lab):
    _, client, ada = make_lab(description="XRD exports")

    before = client.get("/file-sources", headers=ada.headers).json
    assert before == [
        {
            "name": "data",
            "type": "local",
            "description": "XRD exports",
            "built_at": None,
            "cache_age": None,
            "entry_count": 0,
            "last_error": None,
        }
    ]
    assert entries(client, ada).status_code == 200
    (after,) = client.get("/file-sources", headers=ada.headers).json
    assert after["entry_count"] == 7 and after["cache_age"] <= 1 and after["built_at"]  # busy CI
    assert_error(client.get("/file-sources"), 401)


def test_a_folder_lists_folders_first_then_files_and_never_what_leads_out(make_lab, tree):
    _, client, ada = make_lab()

    root = entries(client, ada)

    assert root.status_code == 200, root.json
    assert names(root) == ["empty", "inside", "sub", "a.txt"]  # "outside" leads out
    a = root.json["entries"][-1]
    assert (a["path"], a["is_dir"], a["size"]) == ("a.txt", False, 5)
    modified = dt.datetime.fromisoformat(a["modified"]).timestamp()
    assert abs(modified - (tree / "a.txt").stat().st_mtime) < 1
    assert root.json["refreshed"] is True and root.json["note"] is None
    assert names(entries(client, ada, "sub")) == ["deeper", "b.csv"]
    assert names(entries(client, ada, "./sub//deeper/")) == ["c.bin"]
    assert names(entries(client, ada, "inside")) == []  # a linked folder is not entered
    assert_error(entries(client, ada, "nope"), 404)
    assert_error(entries(client, ada, "a.txt"), 404)
    for bad in ("../data", "sub/../../etc", "/etc", "sub\\deeper"):
        assert_error(entries(client, ada, bad), 400)
    assert_error(client.get("/file-sources/nope/entries", headers=ada.headers), 404)


def test_entries_come_in_pages(make_lab, tree):
    for number in range(25):
        (tree / "many" / f"f{number:02d}.txt").parent.mkdir(exist_ok=True)
        (tree / "many" / f"f{number:02d}.txt").write_text("x")
    _, client, ada = make_lab()

    second = entries(client, ada, "many", page=2, page_size=10)

    assert names(second) == [f"f{n:02d}.txt" for n in range(10, 20)]
    assert '"total": 25' in second.headers["X-Pagination"]


def test_the_listing_is_cached_and_rebuilt_when_old_or_asked(make_lab, tree):
    app, client, ada = make_lab(settings={"REMOTE_CACHE_MIN_AGE": 0.5})
    assert entries(client, ada).json["refreshed"] is True
    (tree / "new.txt").write_text("new")

    cached = entries(client, ada)
    assert "new.txt" not in names(cached) and cached.json["refreshed"] is False
    asked_too_soon = entries(client, ada, refresh="true")
    assert "new.txt" not in names(asked_too_soon)
    # its age in whole seconds: 0, or 1 on a busy machine, far below the half minute
    assert re.fullmatch(
        r"not refreshed: the listing is [01] s old and REMOTE_CACHE_MIN_AGE is 0.5 min",
        asked_too_soon.json["note"],
    ), asked_too_soon.json["note"]

    set_state(app, built_at=utcnow() - dt.timedelta(minutes=1))  # older than MIN_AGE
    asked = entries(client, ada, refresh="true")
    assert "new.txt" in names(asked) and asked.json["refreshed"] is True

    (tree / "newer.txt").write_text("newer")
    set_state(app, built_at=utcnow() - dt.timedelta(minutes=61))  # older than MAX_AGE
    assert "newer.txt" in names(entries(client, ada))


def test_an_unreachable_source_serves_its_last_listing_and_says_why(make_lab, tree):
    app, client, ada = make_lab()
    assert entries(client, ada).status_code == 200
    tree.rename(tree.parent / "unmounted")
    set_state(app, built_at=utcnow() - dt.timedelta(minutes=61))

    old = entries(client, ada, "sub")

    missing = f"data: the folder {tree} is missing; is it mounted?"
    assert names(old) == ["deeper", "b.csv"] and old.json["refreshed"] is False
    assert old.json["note"] == f"not refreshed: {missing}"
    (source,) = client.get("/file-sources", headers=ada.headers).json
    assert source["last_error"] == missing


def test_limits_and_excludes_shape_the_listing(make_lab, tree):
    _, client, ada = make_lab(max_entries=3)
    too_many = assert_error(entries(client, ada), 413)
    assert "more than 3 entries" in too_many["message"] and "max_entries" in too_many["message"]
    (source,) = client.get("/file-sources", headers=ada.headers).json
    assert source["last_error"] == too_many["message"] and source["built_at"] is None

    _, client, ada = make_lab(excludes=["*.csv", "sub/deeper"], max_depth=2)
    assert names(entries(client, ada, "sub")) == []
    _, client, ada = make_lab(max_depth=1)
    deeper = assert_error(entries(client, ada, "sub"), 404)  # listed, but not walked
    assert "max_depth" in deeper["message"]


def test_a_listing_being_built_elsewhere_is_served_old_or_waited_for(make_lab, monkeypatch):
    app, client, ada = make_lab()
    later = utcnow() + dt.timedelta(minutes=5)
    monkeypatch.setattr(listing, "WAIT_FOR_FIRST_LISTING", 0.5)
    with app.app_context():
        session = get_session()
        begin_write(session)
        session.add(SourceState(source="data", lock_token="x" * 32, lock_expires_at=later))
        session.commit()

    waited = assert_error(entries(client, ada), 503)
    assert "still being built" in waited["message"]

    set_state(app, lock_expires_at=utcnow() - dt.timedelta(seconds=1))  # its holder died
    assert entries(client, ada).json["refreshed"] is True
    set_state(
        app, lock_token="y" * 32, lock_expires_at=later, built_at=utcnow() - dt.timedelta(hours=2)
    )
    old = entries(client, ada)
    assert old.json["refreshed"] is False and "being built" in old.json["note"]


# --- copying a file into the store --------------------------------------------------------


def attach(client: Any, user: Any, refcode: str, path: str, source: str = "data") -> Any:
    return client.post(
        f"/items/{refcode}/files/from-source",
        json={"source": source, "path": path},
        headers=user.headers,
    )


def file_rows(app: Any) -> int:
    with app.app_context():
        return int(get_session().scalar(sa.select(sa.func.count()).select_from(StoredFile)))


def test_a_file_is_copied_into_the_store_with_its_origin(make_lab, labvault_make_user, tree):
    app, client, ada = make_lab()
    refcode = create_item(client, ada, name="powder")["refcode"]

    answer = attach(client, ada, refcode, "inside/b.csv")

    assert answer.status_code == 201, answer.json
    assert (answer.json["name"], answer.json["size"], answer.json["origin"]) == (
        "b.csv",
        8,
        "data:inside/b.csv",
    )
    assert answer.json["items"] == [refcode]
    original = answer.json["original"]
    assert (original["source"], original["path"], original["size"]) == ("data", "inside/b.csv", 8)
    modified = dt.datetime.fromisoformat(original["modified"]).timestamp()
    assert abs(modified - (tree / "sub" / "b.csv").stat().st_mtime) < 0.001
    assert original["checked_at"]
    uploaded = client.post(
        f"/items/{refcode}/files",
        data={"file": (io.BytesIO(b"abc"), "notes.txt")},
        headers=ada.headers,
    )
    assert uploaded.json["original"] is None
    content = client.get(answer.json["content_url"], headers=ada.headers)
    assert content.data == b"x,y\n1,2\n"
    versions = client.get(f"/items/{refcode}/versions", headers=ada.headers).json
    assert versions[0]["action"] == "file_add"
    reader = labvault_make_user(app)
    assert_error(attach(client, reader, refcode, "a.txt"), 404)  # may not even read it


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("outside/secret.txt", 400),
        ("../data-outside/secret.txt", 400),
        ("/etc/passwd", 400),
        ("sub", 422),
        ("pipe", 422),
        ("gone.txt", 404),
    ],
    ids=["link-out-of-root", "dot-dot", "absolute", "folder", "pipe", "missing"],
)
def test_what_cannot_be_copied_is_refused_and_nothing_is_written(make_lab, tree, path, status):
    os.mkfifo(tree / "pipe")  # opened to be read, it would wait for a writer forever
    app, client, ada = make_lab()
    refcode = create_item(client, ada, name="powder")["refcode"]

    assert_error(attach(client, ada, refcode, path), status)

    assert file_rows(app) == 0
    assert len(client.get(f"/items/{refcode}/versions", headers=ada.headers).json) == 1


def test_a_file_removed_after_the_listing_and_one_too_large_are_refused(make_lab, tree):
    app, client, ada = make_lab(settings={"MAX_CONTENT_LENGTH": 100})
    refcode = create_item(client, ada, name="powder")["refcode"]
    assert "a.txt" in names(entries(client, ada))

    (tree / "a.txt").unlink()
    assert_error(attach(client, ada, refcode, "a.txt"), 404)
    too_large = assert_error(attach(client, ada, refcode, "sub/deeper/c.bin"), 413)
    assert "100 bytes" in too_large["message"]
    assert_error(attach(client, ada, refcode, "a.txt", source="nope"), 404)
    assert file_rows(app) == 0


def make_stale(app: Any) -> None:
    with app.app_context():
        session = get_session()
        begin_write(session)
        session.execute(
            sa.update(StoredFile).values(checked_at=utcnow() - dt.timedelta(minutes=61))
        )
        session.commit()


def test_a_changed_original_is_fetched_again_as_a_new_version(make_lab, tree):
    app, client, ada = make_lab()
    refcode = create_item(client, ada, name="powder")["refcode"]
    first = attach(client, ada, refcode, "sub/b.csv").json

    assert client.get(first["content_url"], headers=ada.headers).status_code == 200  # fresh
    make_stale(app)
    assert client.get(first["content_url"], headers=ada.headers).data == b"x,y\n1,2\n"  # same
    (tree / "sub" / "b.csv").write_bytes(b"x,y\n1,2\n3,4\n")
    os.utime(tree / "sub" / "b.csv", (1_900_000_000, 1_900_000_000))
    make_stale(app)

    moved = client.get(first["content_url"], headers=ada.headers)

    assert moved.status_code == 307
    fresh = client.get(moved.headers["Location"], headers=ada.headers)
    assert fresh.data == b"x,y\n1,2\n3,4\n"
    files = client.get(f"/items/{refcode}/files", headers=ada.headers).json
    assert [(f["name"], f["size"], f["origin"]) for f in files] == [("b.csv", 12, "data:sub/b.csv")]
    versions = client.get(f"/items/{refcode}/versions", headers=ada.headers).json
    assert [v["action"] for v in versions] == ["file_refresh", "file_add", "create"]
    # the old content stays what the older version refers to, and is not fetched again
    make_stale(app)
    old = client.get(first["content_url"], headers=ada.headers)
    assert (old.status_code, old.data) == (200, b"x,y\n1,2\n")
    assert file_rows(app) == 2


def test_an_unreachable_original_serves_the_copy_and_says_how_old(make_lab, tree):
    app, client, ada = make_lab()
    refcode = create_item(client, ada, name="powder")["refcode"]
    copied = attach(client, ada, refcode, "a.txt").json
    tree.rename(tree.parent / "unmounted")
    make_stale(app)

    served = client.get(copied["content_url"], headers=ada.headers)

    assert (served.status_code, served.data) == (200, b"hello")
    assert int(served.headers["X-Labvault-Copy-Age"]) >= 3660
    assert "served the copy checked" in served.headers["X-Labvault-Copy-Note"]


# --- links and the source's own rules ----------------------------------------------------


def copies_of(app: Any, content: bytes) -> int:
    """How many file rows hold ``content``."""
    digest = hashlib.sha256(content).hexdigest()
    with app.app_context():
        query = (
            sa.select(sa.func.count()).select_from(StoredFile).where(StoredFile.sha256 == digest)
        )
        return int(get_session().scalar(query))


def test_a_link_flipped_between_an_inside_and_an_outside_file_never_copies_the_outside_one(
    make_lab, tree
):
    app, client, ada = make_lab()
    refcode = create_item(client, ada, name="powder")["refcode"]
    answers: Counter[int] = Counter()

    # short targets, stored in the link's inode: a long one waits for the journal longer
    with flipping_link(tree / "flip", "a.txt", "../data-outside/secret.txt"):
        for _ in range(400):
            answers[attach(client, ada, refcode, "flip").status_code] += 1

    print(f"answers {dict(answers)}; copies of the outside file: {copies_of(app, b'not yours')}")
    assert copies_of(app, b"not yours") == 0
    assert copies_of(app, b"hello") == answers[201] > 0
    assert set(answers) == {201, 400}, answers


def test_a_link_out_of_the_root_is_refused_and_not_listed(make_lab, tree):
    (tree / "env").symlink_to(tree.parent / "data-outside" / "secret.txt")
    (tree / "up").symlink_to("../data-outside/secret.txt")
    (tree / "sub" / "b-again.csv").symlink_to(tree / "sub" / "b.csv")  # absolute, inside
    app, client, ada = make_lab()
    refcode = create_item(client, ada, name="powder")["refcode"]

    assert "env" not in names(entries(client, ada)) and "up" not in names(entries(client, ada))
    for path in ("env", "up", "outside/secret.txt"):
        refused = assert_error(attach(client, ada, refcode, path), 400)
        assert "leads outside the file source data" in refused["message"]
    assert copies_of(app, b"not yours") == 0
    copied = attach(client, ada, refcode, "sub/b-again.csv")
    assert (copied.status_code, copied.json["size"]) == (201, 8)


def test_what_excludes_and_max_depth_hide_cannot_be_copied(make_lab, tree):
    (tree / ".credentials").write_text("password=hunter2")
    (tree / "private").mkdir()
    (tree / "private" / "p.txt").write_text("private")
    (tree / "credentials").symlink_to(".credentials")  # names that pass, leading to hidden ones
    (tree / "public").symlink_to("private")
    app, client, ada = make_lab(excludes=[".*", "private"], max_depth=2)
    refcode = create_item(client, ada, name="powder")["refcode"]

    for path, pattern in [
        (".credentials", "'.*'"),
        ("private/p.txt", "'private'"),
        ("credentials", "'.*'"),
        ("public/p.txt", "'private'"),
    ]:
        refused = assert_error(attach(client, ada, refcode, path), 404)
        assert f"excluded by the pattern {pattern}" in refused["message"], (path, refused)
    too_deep = assert_error(attach(client, ada, refcode, "sub/deeper/c.bin"), 404)
    assert "deeper than the source's max_depth (2)" in too_deep["message"]
    assert_error(attach(client, ada, refcode, "inside/deeper/c.bin"), 404)  # by a link, too
    assert file_rows(app) == 0
    assert names(entries(client, ada)) == ["empty", "inside", "sub", "a.txt"]
    hidden = assert_error(entries(client, ada, "private"), 404)
    assert "excluded by the pattern 'private'" in hidden["message"]
    assert attach(client, ada, refcode, "sub/b.csv").status_code == 201
