"""Who may call which route: a permission matrix over every item, collection, block,
version, trash and file route, for every kind of caller.

The matrix is data: ``ROUTES`` says how to call each route, and one table per scenario
says which status each caller must get. The scenarios are

- ``private``: a sample created by *owner* (with *deactivated* as co-creator) in a
  collection of *owner*, shared for reading with *reader* and for writing with *writer*,
  *unverified* and *deactivated*;
- ``labwide``: a starting material of *owner* in such a collection; starting materials and
  equipment are lab-wide, so every active user reads and writes them;
- ``plugin``: the ``private`` table for a type of a plugin, a cycling run
  (``item_types_battery``), on a cell every member may read: a plugin's type that is not
  lab-wide follows creators and collections as the core's own do.

*other* is an active user without a share, *manager* and *admin* have those roles, and
*anonymous* sends no token. An *unverified* account (registered by a sign-in, waiting
for an admin) gets 403 on every route here. Whoever may not read an item gets 404, with
the very answer they get about an item that does not exist (checked for each such cell);
whoever may read but not change it gets 403; a deactivated user's token and no token at
all get 401.

All cells of a scenario share one set of fixtures. A call that should succeed and uses
something up (trashing, deleting, restoring) gets a fresh one of what it uses up; should
a call that must be refused succeed after all, the fixtures are made again (and the cell
fails), so one bug does not muddle the rest of the table.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from labvault.app import create_app
from labvault.jobs.service import record_job
from labvault.testing import TEST_SECRET_KEY, TestUser

from tests.route_coverage import documented_operations

ROLES = (
    "owner",
    "other",
    "reader",
    "writer",
    "manager",
    "admin",
    "unverified",
    "deactivated",
    "anonymous",
)
#: Every route under these prefixes must have a row in the matrix.
GUARDED_PREFIXES = ("/items", "/collections", "/files", "/trash", "/block-types", "/jobs")
#: Identifiers of nothing: an unreadable thing must answer exactly like these.
GHOSTS = {
    "refcode": "test:QQQQQQ",
    "trashed": "test:WWWWWW",
    "item_id": "no-such-item",
    "collection_id": "no-such-collection",
    "file_id": 987654321,
    "trashed_file_id": 987654322,
    "job_id": 987654323,
}

ANY = {"headers": {"If-Match": "*"}}

Fixture = dict[str, Any]
_serial = itertools.count(1)


@dataclass(frozen=True)
class Call:
    """How to call one route: ``path`` as in /openapi.json, filled from the fixtures."""

    method: str
    path: str
    #: JSON body, made from the lab and the fixtures.
    body: Callable[[Lab, Fixture], Any] | None = None
    #: Path of the resource whose current ETag is sent as If-Match.
    if_match: str | None = None
    #: Path parameter -> fixture key, where they differ.
    params: Mapping[str, str] = field(default_factory=dict)
    query: str = ""
    upload: bool = False
    #: For a call that uses something up: fixtures with a fresh one of it.
    fresh: Callable[[Lab, Fixture], Fixture] | None = None

    def url(self, fixture: Fixture) -> str:
        values = {**fixture, **{name: fixture[key] for name, key in self.params.items()}}
        return self.path.format(**values) + (f"?{self.query}" if self.query else "")


def _new_item(lab: Lab, fixture: Fixture) -> dict[str, Any]:
    return {"type": fixture["type"], "name": "made in the matrix", **lab.required(fixture["type"])}


def _new_item_in_collection(lab: Lab, fixture: Fixture) -> dict[str, Any]:
    return {**_new_item(lab, fixture), "collections": [fixture["collection_id"]]}


def _new_collection(lab: Lab, fixture: Fixture) -> dict[str, Any]:
    return {"collection_id": f"new-{next(_serial)}"}


def _block_order(lab: Lab, fixture: Fixture) -> dict[str, Any]:
    blocks = lab.ok("admin", "GET", "/items/{refcode}/blocks".format(**fixture)).json
    return {"block_ids": [block["id"] for block in reversed(blocks)]}


def _fresh_item(lab: Lab, fixture: Fixture) -> Fixture:
    item = lab.new_item(fixture["type"], fixture["collection_id"])
    return {**fixture, "refcode": item["refcode"]}


def _fresh_item_with_two_versions(lab: Lab, fixture: Fixture) -> Fixture:
    fresh = _fresh_item(lab, fixture)
    lab.ok("owner", "PATCH", "/items/{refcode}".format(**fresh), json={"name": "v2"}, **ANY)
    return fresh


def _fresh_trashed_item(lab: Lab, fixture: Fixture) -> Fixture:
    return {**fixture, "trashed": lab.trashed_item(fixture["type"], fixture["collection_id"])}


def _fresh_collection(lab: Lab, fixture: Fixture) -> Fixture:
    return {**fixture, "collection_id": lab.shared_collection()}


def _fresh_block(lab: Lab, fixture: Fixture) -> Fixture:
    return {**fixture, "block_id": lab.new_block(fixture["refcode"])}


def _fresh_file(lab: Lab, fixture: Fixture) -> Fixture:
    return {**fixture, "file_id": lab.new_file(fixture["refcode"])}


ITEM = "/items/{refcode}"
BLOCK = "/items/{refcode}/blocks/{block_id}"
COLLECTION = "/collections/{collection_id}"

ROUTES: dict[str, Call] = {
    # items
    "list items": Call("GET", "/items", query="page_size=100"),
    "create item": Call("POST", "/items", body=_new_item),
    "create item in collection": Call("POST", "/items", body=_new_item_in_collection),
    "get item": Call("GET", ITEM),
    "patch item": Call("PATCH", ITEM, body=lambda lab, f: {"name": "renamed"}, if_match=ITEM),
    "trash item": Call("DELETE", ITEM, if_match=ITEM, fresh=_fresh_item),
    "get item by item_id": Call("GET", "/items/by-item-id/{item_id}"),
    "graph": Call("GET", ITEM + "/graph"),
    "export item": Call("GET", ITEM + "/export.{format_name}", query="depth=1"),
    "list versions": Call("GET", ITEM + "/versions"),
    "get version": Call("GET", ITEM + "/versions/{number}"),
    "restore version": Call(
        "POST",
        ITEM + "/versions/{number}/restore",
        if_match=ITEM,
        fresh=_fresh_item_with_two_versions,
    ),
    # trash
    "list trash": Call("GET", "/trash"),
    "restore from trash": Call(
        "POST", "/trash/{refcode}/restore", params={"refcode": "trashed"}, fresh=_fresh_trashed_item
    ),
    "purge from trash": Call(
        "DELETE", "/trash/{refcode}", params={"refcode": "trashed"}, fresh=_fresh_trashed_item
    ),
    # collections
    "list collections": Call("GET", "/collections"),
    "create collection": Call("POST", "/collections", body=_new_collection),
    "get collection": Call("GET", COLLECTION),
    "patch collection": Call(
        "PATCH", COLLECTION, body=lambda lab, f: {"title": "retitled"}, if_match=COLLECTION
    ),
    # a write share is for the items: sharing the collection is its owner's (or an admin's)
    "reshare collection": Call(
        "PATCH",
        COLLECTION,
        body=lambda lab, f: {"shares": []},
        if_match=COLLECTION,
        fresh=_fresh_collection,
    ),
    "delete collection": Call("DELETE", COLLECTION, if_match=COLLECTION, fresh=_fresh_collection),
    "add to collection": Call("PUT", COLLECTION + "/items/{refcode}"),
    "remove from collection": Call("DELETE", COLLECTION + "/items/{refcode}", fresh=_fresh_item),
    # blocks
    "list block types": Call("GET", "/block-types"),
    "list blocks": Call("GET", ITEM + "/blocks"),
    "add block": Call(
        "POST",
        ITEM + "/blocks",
        body=lambda lab, f: {"block_type": "comment", "data": {"text": "*added*"}},
    ),
    "get block": Call("GET", BLOCK),
    "patch block": Call(
        "PATCH", BLOCK, body=lambda lab, f: {"data": {"text": "changed"}}, if_match=BLOCK
    ),
    "delete block": Call("DELETE", BLOCK, if_match=BLOCK, fresh=_fresh_block),
    "order blocks": Call("PUT", ITEM + "/blocks/order", body=_block_order),
    # a comment block has no plot: whoever may read the item gets 404 all the same
    "block plot": Call("GET", BLOCK + "/plot.png"),
    # files
    "list files": Call("GET", ITEM + "/files"),
    "upload file": Call("POST", ITEM + "/files", upload=True),
    "copy file from a source": Call(
        "POST", ITEM + "/files/from-source", body=lambda lab, f: {"source": "lab", "path": "x.csv"}
    ),
    "get file": Call("GET", "/files/{file_id}"),
    "get file content": Call("GET", "/files/{file_id}/content"),
    # the files of an item in the trash are for those who may restore it
    "get file of trashed item": Call(
        "GET", "/files/{file_id}", params={"file_id": "trashed_file_id"}
    ),
    "detach file": Call("DELETE", ITEM + "/files/{file_id}", fresh=_fresh_file),
    # jobs: for who asked for them, and admins
    "get job": Call("GET", "/jobs/{job_id}"),
}

# fmt: off
#                               owner other reader writer manager admin unverified deact. anon.
PRIVATE: dict[str, tuple[int, ...]] = {
    "list items":                (200, 200, 200, 200, 200, 200, 403, 401, 401),
    "create item":               (201, 201, 201, 201, 201, 201, 403, 401, 401),
    "create item in collection": (201, 422, 422, 201, 422, 201, 403, 401, 401),
    "get item":                  (200, 404, 200, 200, 200, 200, 403, 401, 401),
    "patch item":                (200, 404, 403, 200, 403, 200, 403, 401, 401),
    "trash item":                (204, 404, 403, 204, 403, 204, 403, 401, 401),
    "get item by item_id":       (200, 404, 200, 200, 200, 200, 403, 401, 401),
    "graph":                     (200, 404, 200, 200, 200, 200, 403, 401, 401),
    "export item":               (200, 404, 200, 200, 200, 200, 403, 401, 401),
    "list versions":             (200, 404, 200, 200, 200, 200, 403, 401, 401),
    "get version":               (200, 404, 200, 200, 200, 200, 403, 401, 401),
    "restore version":           (200, 404, 403, 200, 403, 200, 403, 401, 401),
    "list trash":                (200, 200, 200, 200, 200, 200, 403, 401, 401),
    "restore from trash":        (200, 404, 403, 200, 403, 200, 403, 401, 401),
    "purge from trash":          (403, 403, 403, 403, 403, 204, 403, 401, 401),
    "list collections":          (200, 200, 200, 200, 200, 200, 403, 401, 401),
    "create collection":         (201, 201, 201, 201, 201, 201, 403, 401, 401),
    "get collection":            (200, 404, 200, 200, 200, 200, 403, 401, 401),
    "patch collection":          (200, 404, 403, 200, 403, 200, 403, 401, 401),
    "reshare collection":        (200, 404, 403, 403, 403, 200, 403, 401, 401),
    "delete collection":         (204, 404, 403, 403, 403, 204, 403, 401, 401),
    "add to collection":         (204, 404, 403, 204, 403, 204, 403, 401, 401),
    "remove from collection":    (204, 404, 403, 204, 403, 204, 403, 401, 401),
    "list block types":          (200, 200, 200, 200, 200, 200, 403, 401, 401),
    "list blocks":               (200, 404, 200, 200, 200, 200, 403, 401, 401),
    "add block":                 (201, 404, 403, 201, 403, 201, 403, 401, 401),
    "get block":                 (200, 404, 200, 200, 200, 200, 403, 401, 401),
    "patch block":               (200, 404, 403, 200, 403, 200, 403, 401, 401),
    "delete block":              (204, 404, 403, 204, 403, 204, 403, 401, 401),
    "order blocks":              (200, 404, 403, 200, 403, 200, 403, 401, 401),
    "block plot":                (404, 404, 404, 404, 404, 404, 403, 401, 401),
    "list files":                (200, 404, 200, 200, 200, 200, 403, 401, 401),
    "upload file":               (201, 404, 403, 201, 403, 201, 403, 401, 401),
    "copy file from a source":   (201, 404, 403, 201, 403, 201, 403, 401, 401),
    "get file":                  (200, 404, 200, 200, 200, 200, 403, 401, 401),
    "get file content":          (200, 404, 200, 200, 200, 200, 403, 401, 401),
    "get file of trashed item":  (200, 404, 404, 200, 404, 200, 403, 401, 401),
    "detach file":               (204, 404, 403, 204, 403, 204, 403, 401, 401),
    "get job":                   (200, 404, 404, 404, 404, 200, 403, 401, 401),
}
#                               owner other reader writer manager admin unverified deact. anon.
LABWIDE: dict[str, tuple[int, ...]] = {
    "list items":                (200, 200, 200, 200, 200, 200, 403, 401, 401),
    "create item":               (201, 201, 201, 201, 201, 201, 403, 401, 401),
    "create item in collection": (201, 422, 422, 201, 422, 201, 403, 401, 401),
    "get item":                  (200, 200, 200, 200, 200, 200, 403, 401, 401),
    "patch item":                (200, 200, 200, 200, 200, 200, 403, 401, 401),
    "trash item":                (204, 204, 204, 204, 204, 204, 403, 401, 401),
    "get item by item_id":       (200, 200, 200, 200, 200, 200, 403, 401, 401),
    "graph":                     (200, 200, 200, 200, 200, 200, 403, 401, 401),
    "export item":               (200, 200, 200, 200, 200, 200, 403, 401, 401),
    "list versions":             (200, 200, 200, 200, 200, 200, 403, 401, 401),
    "get version":               (200, 200, 200, 200, 200, 200, 403, 401, 401),
    "restore version":           (200, 200, 200, 200, 200, 200, 403, 401, 401),
    "list trash":                (200, 200, 200, 200, 200, 200, 403, 401, 401),
    "restore from trash":        (200, 200, 200, 200, 200, 200, 403, 401, 401),
    "purge from trash":          (403, 403, 403, 403, 403, 204, 403, 401, 401),
    "list collections":          (200, 200, 200, 200, 200, 200, 403, 401, 401),
    "create collection":         (201, 201, 201, 201, 201, 201, 403, 401, 401),
    # the collection is private to its owner and members, whatever is in it
    "get collection":            (200, 404, 200, 200, 200, 200, 403, 401, 401),
    "patch collection":          (200, 404, 403, 200, 403, 200, 403, 401, 401),
    "reshare collection":        (200, 404, 403, 403, 403, 200, 403, 401, 401),
    "delete collection":         (204, 404, 403, 403, 403, 204, 403, 401, 401),
    "add to collection":         (204, 404, 403, 204, 403, 204, 403, 401, 401),
    "remove from collection":    (204, 404, 403, 204, 403, 204, 403, 401, 401),
    "list block types":          (200, 200, 200, 200, 200, 200, 403, 401, 401),
    "list blocks":               (200, 200, 200, 200, 200, 200, 403, 401, 401),
    "add block":                 (201, 201, 201, 201, 201, 201, 403, 401, 401),
    "get block":                 (200, 200, 200, 200, 200, 200, 403, 401, 401),
    "patch block":               (200, 200, 200, 200, 200, 200, 403, 401, 401),
    "delete block":              (204, 204, 204, 204, 204, 204, 403, 401, 401),
    "order blocks":              (200, 200, 200, 200, 200, 200, 403, 401, 401),
    "block plot":                (404, 404, 404, 404, 404, 404, 403, 401, 401),
    "list files":                (200, 200, 200, 200, 200, 200, 403, 401, 401),
    "upload file":               (201, 201, 201, 201, 201, 201, 403, 401, 401),
    "copy file from a source":   (201, 201, 201, 201, 201, 201, 403, 401, 401),
    "get file":                  (200, 200, 200, 200, 200, 200, 403, 401, 401),
    "get file content":          (200, 200, 200, 200, 200, 200, 403, 401, 401),
    "get file of trashed item":  (200, 200, 200, 200, 200, 200, 403, 401, 401),
    "detach file":               (204, 204, 204, 204, 204, 204, 403, 401, 401),
    "get job":                   (200, 404, 404, 404, 404, 200, 403, 401, 401),
}
# fmt: on
SCENARIOS = {
    "private": ("sample", PRIVATE),
    "labwide": ("starting_material", LABWIDE),
    "plugin": ("cycling_run", PRIVATE),
}
#: The plugins the lab enables: for the types of the scenarios, and a format to export to.
PLUGINS = ["item_types_battery", "interchange_eln"]


# --- the lab: one user per role, and fixtures made through the API --------------------------


def _upload(content: bytes = b"x,y\n1,2\n") -> dict[str, Any]:
    return {
        "data": {"file": (io.BytesIO(content), "data.csv")},
        "content_type": "multipart/form-data",
    }


class Lab:
    """An app with one user per role; fixtures are made through the API as *owner*."""

    def __init__(self, app: Any, make_user: Callable[..., TestUser]) -> None:
        self.client = app.test_client()
        self.users: dict[str, TestUser] = {
            "owner": make_user(app),
            "other": make_user(app),
            "reader": make_user(app),
            "writer": make_user(app),
            "manager": make_user(app, role="manager"),
            "admin": make_user(app, role="admin"),
            "unverified": make_user(app, status="unverified"),
            "deactivated": make_user(app, status="deactivated"),
        }
        self.etags: dict[str, str] = {}
        self._cell: str | None = None
        self._state = app.extensions["labvault"]

    def call(self, role: str, method: str, url: str, **kwargs: Any) -> Any:
        auth = self.users[role].headers if role in self.users else {}
        headers = {**auth, **kwargs.pop("headers", {})}
        response = self.client.open(url, method=method, headers=headers, **kwargs)
        if method != "GET" and response.status_code < 300:
            self.etags.clear()
        return response

    def ok(self, role: str, method: str, url: str, **kwargs: Any) -> Any:
        response = self.call(role, method, url, **kwargs)
        assert response.status_code < 300, (method, url, response.status_code, response.json)
        return response

    def etag(self, url: str) -> str:
        """The current ETag (kept until the next change)."""
        if url not in self.etags:
            self.etags[url] = self.ok("admin", "GET", url).headers["ETag"]
        return self.etags[url]

    def shared_collection(self) -> str:
        """A new collection of owner's, shared with the members."""
        collection_id = f"shared-{next(_serial)}"
        shares = [
            {"user_id": self.users[role].id, "permission": permission}
            for role, permission in (
                ("reader", "read"),
                ("writer", "write"),
                ("unverified", "write"),
                ("deactivated", "write"),
            )
        ]
        body = {"collection_id": collection_id, "shares": shares}
        self.ok("owner", "POST", "/collections", json=body)
        return collection_id

    def required(self, item_type: str) -> dict[str, Any]:
        """The fields an item of the type cannot be made without: a cycling run's cell,
        one that every member may read (so whoever may create an item may create a run)."""
        if item_type != "cycling_run":
            return {}
        if self._cell is None:
            collection_id = f"cells-{next(_serial)}"
            shares = [
                {"user_id": self.users[role].id, "permission": "read"}
                for role in ("other", "reader", "writer", "unverified", "deactivated")
            ]
            body = {"collection_id": collection_id, "shares": shares}
            self.ok("owner", "POST", "/collections", json=body)
            cell = {"type": "cell", "name": "the cell", "collections": [collection_id]}
            self._cell = self.ok("owner", "POST", "/items", json=cell).json["refcode"]
        return {"cell": self._cell}

    def new_item(self, item_type: str, collection_id: str) -> dict[str, Any]:
        body = {
            **self.required(item_type),
            "type": item_type,
            "name": f"{item_type} {next(_serial)}",
            "collections": [collection_id],
            "creators": [self.users["owner"].id, self.users["deactivated"].id],
        }
        created: dict[str, Any] = self.ok("owner", "POST", "/items", json=body).json
        return created

    def trashed_item(self, item_type: str, collection_id: str) -> str:
        refcode: str = self.new_item(item_type, collection_id)["refcode"]
        self.ok("owner", "DELETE", f"/items/{refcode}", **ANY)
        return refcode

    def new_block(self, refcode: str) -> int:
        body = {"block_type": "comment", "data": {"text": "a *note*"}}
        block_id: int = self.ok("owner", "POST", f"/items/{refcode}/blocks", json=body).json["id"]
        return block_id

    def new_file(self, refcode: str) -> int:
        file_id: int = self.ok("owner", "POST", f"/items/{refcode}/files", **_upload()).json["id"]
        return file_id

    def new_job(self) -> int:
        """A job of *owner*'s (recorded, never run: a backup of no strategy)."""
        jobs = self._state.jobs
        with self._state.database.sessionmaker() as session:
            job_type = jobs.job_type("backup")
            owner = self.users["owner"].id
            job_id, _ = record_job(session, job_type, {"strategy": "none"}, user_id=owner)
            session.commit()
        return job_id

    def fixture(self, item_type: str) -> Fixture:
        """An item with a block (so two versions) and a file, and a trashed item with a
        file, in a collection shared with the members."""
        collection_id = self.shared_collection()
        item = self.new_item(item_type, collection_id)
        trashed = self.new_item(item_type, collection_id)["refcode"]
        trashed_file_id = self.new_file(trashed)
        self.ok("owner", "DELETE", f"/items/{trashed}", **ANY)
        return {
            "type": item_type,
            "collection_id": collection_id,
            "refcode": item["refcode"],
            "item_id": item["item_id"],
            "number": 1,
            "block_id": self.new_block(item["refcode"]),
            "file_id": self.new_file(item["refcode"]),
            "trashed": trashed,
            "trashed_file_id": trashed_file_id,
            "format_name": "eln",
            "job_id": self.new_job(),
        }


@pytest.fixture
def lab(
    labvault_make_app: Callable[..., Any],
    labvault_make_user: Callable[..., TestUser],
    tmp_path: Path,
) -> Lab:
    (tmp_path / "lab-data").mkdir()
    (tmp_path / "lab-data" / "x.csv").write_text("x,y\n1,2\n")
    source = {"type": "local", "path": str(tmp_path / "lab-data")}
    return Lab(labvault_make_app(FILE_SOURCES={"lab": source}, PLUGINS=PLUGINS), labvault_make_user)


# --- the matrix ----------------------------------------------------------------------------


def _request(lab: Lab, call: Call, role: str, fixture: Fixture, ghost: bool = False) -> Any:
    """Make the call; as a ghost, about things that do not exist (with a body as valid)."""
    kwargs: dict[str, Any] = {}
    if call.body is not None:
        kwargs["json"] = call.body(lab, fixture)
    if call.upload:
        kwargs.update(_upload())
    if call.if_match is not None:
        # the current ETag, so the answer is about permission, not about If-Match
        etag = "*" if ghost else lab.etag(call.if_match.format(**fixture))
        kwargs["headers"] = {"If-Match": etag}
    return lab.call(
        role, call.method, call.url({**fixture, **GHOSTS} if ghost else fixture), **kwargs
    )


def _leaks(lab: Lab, call: Call, role: str, fixture: Fixture, response: Any) -> str | None:
    """How a 404 differs from the answer about things that do not exist, if it does."""
    nothing = _request(lab, call, role, fixture, ghost=True)
    message = response.json["message"]
    for name in re.findall(r"{(\w+)}", call.path):
        key = call.params.get(name, name)
        if key in GHOSTS:  # the identifiers the message may repeat, as the ghost's
            pattern = rf"(?<![\w:-]){re.escape(str(fixture[key]))}(?![\w:-])"
            message = re.sub(pattern, str(GHOSTS[key]), message)
    if nothing.status_code == 404 and {**response.json, "message": message} == nothing.json:
        return None
    return f"answers {response.json}, but about nothing {nothing.status_code} {nothing.json}"


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_permission_matrix(lab: Lab, scenario: str) -> None:
    item_type, table = SCENARIOS[scenario]
    shared = lab.fixture(item_type)
    wrong = []
    for name, statuses in table.items():
        call = ROUTES[name]
        by_role = dict(zip(ROLES, statuses, strict=True))
        for role, expected in by_role.items():
            fixture = shared
            if call.fresh is not None and expected < 300:
                fixture = call.fresh(lab, shared)
            uses_up = fixture is not shared
            response = _request(lab, call, role, fixture)
            cell = f"{name} ({call.method} {call.path}) as {role}"
            if response.status_code != expected:
                answer = response.get_json(silent=True)
                message = answer.get("message", "") if isinstance(answer, dict) else ""
                wrong.append(f"{cell}: expected {expected}, got {response.status_code} {message}")
            elif expected == 404 and by_role["admin"] != 404:  # 404 as in "not for you"
                leak = _leaks(lab, call, role, fixture, response)
                if leak:
                    wrong.append(f"{cell} tells that it exists: {leak}")
            if call.method != "GET" and not uses_up and response.status_code < 300 <= expected:
                shared = lab.fixture(item_type)  # a refused call must not have changed things
    assert not wrong, f"{len(wrong)} cells of the {scenario} matrix are wrong:\n" + "\n".join(wrong)


def test_every_item_collection_file_block_and_trash_route_is_in_the_matrix(tmp_path: Any) -> None:
    assert list(PRIVATE) == list(ROUTES) == list(LABWIDE)
    app = create_app(
        {"IDENTIFIER_PREFIX": "test", "SECRET_KEY": TEST_SECRET_KEY, "INSTANCE_PATH": str(tmp_path)}
    )
    guarded = {
        (method, path)
        for method, path in documented_operations(app)
        if path.startswith(GUARDED_PREFIXES)
    }
    in_matrix = {(call.method.lower(), call.path) for call in ROUTES.values()}
    missing = sorted(f"{method.upper()} {path}" for method, path in guarded - in_matrix)
    assert missing == [], "routes without a row in the permission matrix: " + ", ".join(missing)
    stale = sorted(f"{method.upper()} {path}" for method, path in in_matrix - guarded)
    assert stale == [], "matrix rows for routes the app does not have: " + ", ".join(stale)


# --- lists show only what the caller may see -----------------------------------------------

# fmt: off
#: What each caller finds: items (GET /items, also when searching), restorable items
#: (GET /trash), collections with the caller's permission, and the graph around M.
SEEN_BY: dict[str, dict[str, set[str]]] = {
    "owner":      {"items": {"S", "S2", "M", "E"}, "trash": {"T1", "T3"},
                   "collections": {"group:owner"}, "graph": {"M", "S2"}},
    "other":      {"items": {"O", "M", "E"}, "trash": {"T2", "T3"},
                   "collections": {"others:owner"}, "graph": {"M"}},
    "reader":     {"items": {"S", "M", "E"}, "trash": {"T3"},
                   "collections": {"group:read"}, "graph": {"M"}},
    "writer":     {"items": {"S", "M", "E"}, "trash": {"T1", "T3"},
                   "collections": {"group:write"}, "graph": {"M"}},
    "manager":    {"items": {"S", "S2", "O", "M", "E"}, "trash": {"T3"},
                   "collections": {"group:read", "others:read"}, "graph": {"M", "S2"}},
    "admin":      {"items": {"S", "S2", "O", "M", "E"}, "trash": {"T1", "T2", "T3"},
                   "collections": {"group:write", "others:write"}, "graph": {"M", "S2"}},
}
# fmt: on


def test_lists_show_each_caller_only_what_they_may_see(lab: Lab, subtests: pytest.Subtests) -> None:
    group = lab.shared_collection()
    lab.ok("other", "POST", "/collections", json={"collection_id": "others"})

    def create(label: str, role: str, item_type: str, *collections: str) -> str:
        body = {"type": item_type, "name": f"zebra {label}", "collections": list(collections)}
        refcode: str = lab.ok(role, "POST", "/items", json=body).json["refcode"]
        return refcode

    refcodes = {
        "S": create("S", "owner", "sample", group),
        "S2": create("S2", "owner", "sample"),
        "O": create("O", "other", "sample", "others"),
        "M": create("M", "other", "starting_material"),
        "E": create("E", "owner", "equipment"),
        "T1": create("T1", "owner", "sample", group),
        "T2": create("T2", "other", "sample", "others"),
        "T3": create("T3", "other", "starting_material"),
    }
    for label, role in (("T1", "owner"), ("T2", "other"), ("T3", "other")):
        lab.ok(role, "DELETE", f"/items/{refcodes[label]}", **ANY)
    # the owner links the lab-wide M to the private S2: who may not read S2 never sees it
    m_url = f"/items/{refcodes['M']}"
    link = {"relationships": [{"refcode": refcodes["S2"], "relation": "other"}]}
    latest = lab.ok("owner", "PATCH", m_url, json=link, **ANY).json["version"]
    labels = {refcode: label for label, refcode in refcodes.items()}

    def seen(role: str, url: str) -> set[str]:
        return {labels[entry["refcode"]] for entry in lab.ok(role, "GET", url).json}

    for role, expected in SEEN_BY.items():
        with subtests.test(role=role):
            assert seen(role, "/items?page_size=100") == expected["items"], role
            assert seen(role, "/items?q=zebra&page_size=100") == expected["items"], role
            assert seen(role, "/trash?page_size=100") == expected["trash"], role
            collections = lab.ok(role, "GET", "/collections?page_size=100").json
            named = {f"{c['collection_id']}:{c['permission']}" for c in collections}
            assert named == {name.replace("group", group) for name in expected["collections"]}, role
            graph = lab.ok(role, "GET", f"{m_url}/graph").json
            assert {labels[node["refcode"]] for node in graph["nodes"]} == expected["graph"], role
            linked = expected["graph"] - {"M"}
            item = lab.ok(role, "GET", m_url).json
            assert {labels[r["refcode"]] for r in item["relationships"]} == linked, role
            snapshot = lab.ok(role, "GET", f"{m_url}/versions/{latest}").json["snapshot"]
            assert {labels[r["refcode"]] for r in snapshot["relationships"]} == linked, role


def test_adding_to_your_own_collection_needs_write_access_to_the_item(
    lab: Lab, subtests: pytest.Subtests
) -> None:
    fixture = lab.fixture("sample")
    sample = fixture["refcode"]
    material = lab.new_item("starting_material", fixture["collection_id"])["refcode"]
    for role in ("other", "reader", "writer", "unverified"):
        response = lab.call(role, "POST", "/collections", json={"collection_id": f"{role}-own"})
        assert response.status_code == (403 if role == "unverified" else 201), role
    expected = {
        # role: (adding the private sample, adding the lab-wide material)
        "other": (404, 204),
        "reader": (403, 204),
        "writer": (204, 204),
    }
    for role, (for_sample, for_material) in expected.items():
        with subtests.test(role=role):
            own = f"/collections/{role}-own/items"
            assert lab.call(role, "PUT", f"{own}/{sample}").status_code == for_sample, role
            assert lab.call(role, "PUT", f"{own}/{material}").status_code == for_material, role
            assert lab.call(role, "DELETE", f"{own}/{material}").status_code == 204, role
    # an item cannot be moved out of a collection the caller may not change by PATCH either
    for role, status in (("other", 404), ("reader", 403)):
        url = f"/items/{sample}"
        response = lab.call(role, "PATCH", url, json={"collections": []}, **ANY)
        assert response.status_code == status, role
    response = lab.call("other", "PATCH", f"/items/{material}", json={"collections": []}, **ANY)
    # "other" cannot see the owner's collection: the change leaves that membership alone
    assert response.status_code == 200, response.json
    assert response.json["collections"] == []
    assert (
        fixture["collection_id"] in lab.ok("owner", "GET", f"/items/{material}").json["collections"]
    )


# --- nothing a caller may not see shows through ----------------------------------------------


def test_an_item_id_is_taken_only_among_the_items_you_may_see(lab: Lab) -> None:
    """Another's private S-12 neither stops nor tells anyone who may not read it: it is as
    free to them as an item_id never used. What they may see does take it."""
    owners = lab.ok("owner", "POST", "/items", json={"type": "sample", "item_id": "S-12"}).json
    lab.ok("owner", "POST", "/items", json={"type": "equipment", "item_id": "OVEN-1"})

    for item_id in ("S-12", "never-used"):
        body = {"type": "sample", "item_id": item_id}
        response = lab.call("other", "POST", "/items", json=body)
        assert response.status_code == 201, response.json
        assert response.json["item_id"] == item_id
    others = lab.ok("other", "GET", "/items/by-item-id/S-12").json
    assert others["refcode"] != owners["refcode"]
    assert lab.ok("owner", "GET", "/items/by-item-id/S-12").json["refcode"] == owners["refcode"]
    # nor does the other's S-12 stop the owner's from coming back from the trash
    lab.ok("owner", "DELETE", f"/items/{owners['refcode']}", **ANY)
    lab.ok("owner", "POST", f"/trash/{owners['refcode']}/restore")

    # their own S-12 and the lab-wide OVEN-1 are taken for "other"
    plain = lab.ok("other", "POST", "/items", json={"type": "sample"}).json["refcode"]
    for item_id in ("S-12", "OVEN-1"):
        response = lab.call("other", "PATCH", f"/items/{plain}", json={"item_id": item_id}, **ANY)
        assert response.status_code == 409, response.json
        assert response.json["message"] == f"item_id {item_id!r} is already used by another item"
        response = lab.call("other", "POST", "/items", json={"type": "cell", "item_id": item_id})
        assert response.status_code == 409, response.json

    # who may read both is told which two there are
    response = lab.call("manager", "GET", "/items/by-item-id/S-12")
    assert response.status_code == 409, response.json
    assert response.json["message"] == (
        "item_id 'S-12' names several items you may read: "
        + ", ".join(sorted([owners["refcode"], others["refcode"]]))
        + "; ask for one by its refcode"
    )


def test_a_list_by_a_collection_you_may_not_see_is_that_of_no_collection(lab: Lab) -> None:
    group = lab.shared_collection()  # the owner's, shared with reader and writer
    lab.ok("owner", "POST", "/collections", json={"collection_id": "secret"})
    hidden = lab.new_item("starting_material", "secret")["refcode"]  # lab-wide: all read it
    shared = lab.new_item("starting_material", group)["refcode"]

    def listed(role: str, query: str) -> tuple[int, Any, str | None]:
        response = lab.call(role, "GET", f"/items?{query}")
        return response.status_code, response.json, response.headers.get("X-Pagination")

    for role in ("other", "reader", "writer"):
        for query in ("collection={}", "collection={}&q=starting", "collection={}&type=sample"):
            secret = listed(role, query.format("secret"))
            assert secret == listed(role, query.format("no-such-collection")), (role, query)
            assert secret[0] == 200
    for role in ("owner", "manager", "admin"):
        assert [item["refcode"] for item in listed(role, "collection=secret")[1]] == [hidden]
    assert [item["refcode"] for item in listed("reader", f"collection={group}")[1]] == [shared]


def test_creators_name_only_people_you_may_see(lab: Lab) -> None:
    """A user id names someone only to who may see them: themselves, the creators of
    items they may read and the people of collections they may read. Any other id is
    answered as one of nobody, so no display name shows through."""
    ids = {role: user.id for role, user in lab.users.items()}
    nobody = 987654321

    def create(role: str, *creators: int) -> Any:
        body = {"type": "sample", "creators": [ids[role], *creators]}
        return lab.call(role, "POST", "/items", json=body)

    refused = create("other", ids["owner"])
    assert refused.status_code == 422, refused.json
    assert refused.json == create("other", nobody).json | {
        "errors": {"json": {"creators": [f"no user with id {ids['owner']}"]}}
    }
    plain = lab.ok("other", "POST", "/items", json={"type": "sample"}).json["refcode"]
    changes = {"creators": [ids["other"], ids["owner"]]}
    response = lab.call("other", "PATCH", f"/items/{plain}", json=changes, **ANY)
    assert response.status_code == 422
    assert response.json["errors"] == refused.json["errors"]
    creators = lab.ok("other", "GET", f"/items/{plain}").json["creators"]
    assert [creator["id"] for creator in creators] == [ids["other"]]

    # a collection shows its owner and its members to everyone it is shared with
    lab.shared_collection()
    assert create("reader", ids["owner"], ids["writer"]).status_code == 201
    assert create("other", ids["owner"]).status_code == 422
    # the creators of a lab-wide item are seen by all who read it
    lab.ok("owner", "POST", "/items", json={"type": "equipment", "name": "oven"})
    made = create("other", ids["owner"])
    assert made.status_code == 201, made.json
    assert {c["id"] for c in made.json["creators"]} == {ids["other"], ids["owner"]}
    # admins see everyone
    assert create("admin", ids["unverified"]).status_code == 201


def test_restoring_a_version_may_name_the_creators_it_shows(lab: Lab) -> None:
    """A version shows who created the item then: its restore may bring them back, though
    the restorer may not see them otherwise."""
    ids = {role: user.id for role, user in lab.users.items()}
    refcode = lab.ok("other", "POST", "/items", json={"type": "sample"}).json["refcode"]
    url = f"/items/{refcode}"
    lab.ok("admin", "PATCH", url, json={"creators": [ids["other"], ids["writer"]]}, **ANY)
    lab.ok("admin", "PATCH", url, json={"creators": [ids["other"]]}, **ANY)
    snapshot = lab.ok("other", "GET", f"{url}/versions/2").json["snapshot"]
    assert [creator["id"] for creator in snapshot["creators"]] == [ids["other"], ids["writer"]]
    changes = {"creators": [ids["other"], ids["writer"]]}
    assert lab.call("other", "PATCH", url, json=changes, **ANY).status_code == 422

    restored = lab.call("other", "POST", f"{url}/versions/2/restore", **ANY)

    assert restored.status_code == 200, restored.json
    assert [creator["id"] for creator in restored.json["creators"]] == [ids["other"], ids["writer"]]
