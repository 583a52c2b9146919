"""Concurrent requests against a real server: nothing collides, nothing is lost.

`labvault serve --workers 4` (gunicorn) runs as a deployer runs it; eight processes,
released together by a barrier, send their requests at once:
- PATCH one item (or one block) with the same If-Match: exactly one gets 200 and the rest
  412, and the stored record is the winner's, whole: no field of another edit mixed in,
  one new version;
- upload to one item, add blocks to one item, create API keys: every one succeeds, and
  the item's versions are numbered without a gap or a repeat.
Each race is run a few times, on SQLite, MariaDB and PostgreSQL.
"""

from __future__ import annotations

import json
import multiprocessing
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.test_cli import Server, Site, make_site, new_user_token

RACERS = 8
ROUNDS = 3
BARRIER_TIMEOUT = 60.0
SAMPLE_STATUSES = ("planned", "synthesized", "characterized", "consumed", "discarded")

_barrier: Any = None  # set in each racing process by _join_race


def http(
    method: str,
    url: str,
    token: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    """(status, headers, JSON body) of one request; errors are answers too."""
    """``body``: JSON, or bytes sent as they are (with their Content-Type in ``headers``)."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None and not isinstance(body, bytes):
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
            return response.status, dict(response.headers), json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        with error:
            raw = error.read()
            return error.code, dict(error.headers), json.loads(raw) if raw else None


# --- the racers: separate processes, started once per module --------------------------------


def _join_race(barrier: Any) -> None:
    global _barrier
    _barrier = barrier


def _race(args: tuple[int, str, str, str, Any, dict[str, str]]) -> tuple[int, int, Any]:
    """Wait for every racer, then send (racer, url, token, method, body, headers);
    (racer, status, body)."""
    racer, url, token, method, body, headers = args
    _barrier.wait(timeout=BARRIER_TIMEOUT)
    status, _, answer = http(method, url, token, body, headers)
    return racer, status, answer


@pytest.fixture(scope="module")
def racers() -> Iterator[Callable[[list[Any]], list[tuple[int, int, Any]]]]:
    """Run one PATCH per racer process, all released at once."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(RACERS)
    with context.Pool(RACERS, initializer=_join_race, initargs=(barrier,)) as pool:
        # a racer blocks at the barrier until all have a task, so each takes exactly one
        yield lambda tasks: pool.map(_race, tasks, chunksize=1)


# --- a served site ---------------------------------------------------------------------


class Served:
    """A site served by `labvault serve --workers 4`, with one user's token."""

    def __init__(self, site: Site, server: Server, token: str) -> None:
        self.site, self.server, self.token = site, server, token

    def url(self, path: str) -> str:
        return self.server.base_url + path

    def ok(self, method: str, path: str, body: Any = None, **headers: str) -> tuple[str, Any]:
        status, answer_headers, answer = http(method, self.url(path), self.token, body, headers)
        assert status < 300, (method, path, status, answer)
        return answer_headers.get("ETag", ""), answer


@pytest.fixture(scope="module", params=["sqlite", "mariadb", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """One served site per database, shared by the races of this module."""
    site = make_site(tmp_path_factory.mktemp(f"served-{request.param}"))
    database = None
    if request.param != "sqlite":
        from tests.conftest import server_database

        database = server_database(request.param)  # skips, or fails where it is required
        site.settings["DATABASE_URL"] = database.url
        site.write_config()
    server = None
    try:
        site.ok("db", "upgrade")
        token = new_user_token(site, "racer@lab.org")
        server = Server(site, "--workers", "4")
        server.wait_until_ready()  # fails the test, with the server's log, if it does not
        yield Served(site, server, token)
    finally:
        if server is not None:
            server.kill()
        if database is not None:
            database.drop()


# --- the races -------------------------------------------------------------------------


def _the_one_winner(served: Served, results: list[tuple[int, int, Any]]) -> tuple[int, Any]:
    statuses = sorted(status for _, status, _ in results)
    not_412 = [(racer, status, answer) for racer, status, answer in results if status != 412]
    assert statuses == [200] + [412] * (RACERS - 1), (
        f"racers not answered 412: {not_412}\nserver log (end):\n{served.server.log()[-4000:]}"
    )
    ((winner, _, answer),) = [result for result in results if result[1] == 200]
    return winner, answer


def _item_edit(racer: int) -> dict[str, Any]:
    return {
        "name": f"name-{racer}",
        "description": f"description of racer {racer}",
        "chemical_formula": f"C{racer + 1}H{2 * racer + 2}",
        "status": SAMPLE_STATUSES[racer % len(SAMPLE_STATUSES)],
        "date": f"2024-05-{racer + 1:02d}",
        "synthesis_description": f"made by racer {racer}",
    }


def test_one_of_many_concurrent_item_edits_wins_whole(served: Served, racers: Any) -> None:
    for _ in range(ROUNDS):
        etag, item = served.ok("POST", "/items", {"type": "sample", "name": "start"})
        path = f"/items/{item['refcode']}"
        url = served.url(path)
        results = racers(
            [
                (racer, url, served.token, "PATCH", _item_edit(racer), {"If-Match": etag})
                for racer in range(RACERS)
            ]
        )
        winner, answer = _the_one_winner(served, results)

        _, stored = served.ok("GET", path)
        assert stored["version"] == item["version"] + 1 == answer["version"]
        assert {name: stored[name] for name in _item_edit(winner)} == _item_edit(winner)
        _, versions = served.ok("GET", f"{path}/versions")
        assert [v["action"] for v in versions] == ["update", "create"]
        _, last = served.ok("GET", f"{path}/versions/{stored['version']}")
        assert {name: last["snapshot"][name] for name in _item_edit(winner)} == _item_edit(winner)


def test_one_of_many_concurrent_block_edits_wins_whole(served: Served, racers: Any) -> None:
    for _ in range(ROUNDS):
        _, item = served.ok("POST", "/items", {"type": "sample", "name": "with a block"})
        blocks = f"/items/{item['refcode']}/blocks"
        etag, block = served.ok("POST", blocks, {"block_type": "comment", "data": {"text": "0"}})
        url = served.url(f"{blocks}/{block['id']}")
        edits = [
            {"title": f"title-{r}", "data": {"text": f"text of racer {r}"}} for r in range(RACERS)
        ]
        results = racers(
            [(r, url, served.token, "PATCH", edits[r], {"If-Match": etag}) for r in range(RACERS)]
        )
        winner, answer = _the_one_winner(served, results)

        _, stored = served.ok("GET", f"{blocks}/{block['id']}")
        assert stored == answer
        assert (stored["title"], stored["data"]) == (edits[winner]["title"], edits[winner]["data"])
        assert stored["version"] == block["version"] + 1
        _, versions = served.ok("GET", f"/items/{item['refcode']}/versions")
        assert [v["action"] for v in versions] == ["block_update", "block_create", "create"]


# --- requests that all succeed ---------------------------------------------------------


def multipart_file(name: str, content: bytes) -> tuple[bytes, dict[str, str]]:
    """A multipart/form-data body with one part, ``file``, and its Content-Type header."""
    boundary = "racer-boundary-7d3f"
    body = (
        (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: text/plain\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def _all_succeed(served: Served, results: list[tuple[int, int, Any]], status: int) -> list[Any]:
    failed = [(racer, code, answer) for racer, code, answer in results if code != status]
    assert not failed, f"{failed}\nserver log (end):\n{served.server.log()[-4000:]}"
    return [answer for _, _, answer in sorted(results, key=lambda result: result[0])]


def _versions_of(served: Served, refcode: str) -> list[tuple[int, str]]:
    _, versions = served.ok("GET", f"/items/{refcode}/versions?page_size=100")
    return sorted((v["number"], v["action"]) for v in versions)


def test_concurrent_uploads_to_one_item_all_land_with_their_own_version(
    served: Served, racers: Any
) -> None:
    for round_ in range(ROUNDS):
        _, item = served.ok("POST", "/items", {"type": "sample", "name": "many files"})
        refcode = item["refcode"]
        url = served.url(f"/items/{refcode}/files")
        tasks = []
        for racer in range(RACERS):
            body, headers = multipart_file(
                f"r{racer}.txt", f"round {round_} racer {racer}".encode()
            )
            tasks.append((racer, url, served.token, "POST", body, headers))
        uploaded = _all_succeed(served, racers(tasks), 201)

        _, listed = served.ok("GET", f"/items/{refcode}/files?page_size=100")
        assert sorted(f["id"] for f in listed) == sorted(f["id"] for f in uploaded)
        assert _versions_of(served, refcode) == [(1, "create")] + [
            (n, "file_add") for n in range(2, RACERS + 2)
        ]
        _, stored = served.ok("GET", f"/items/{refcode}")
        assert stored["version"] == RACERS + 1


def test_concurrent_new_blocks_of_one_item_all_land_in_order(served: Served, racers: Any) -> None:
    for _ in range(ROUNDS):
        _, item = served.ok("POST", "/items", {"type": "sample", "name": "many blocks"})
        refcode = item["refcode"]
        url = served.url(f"/items/{refcode}/blocks")
        tasks = [
            (r, url, served.token, "POST", {"block_type": "comment", "data": {"text": f"{r}"}}, {})
            for r in range(RACERS)
        ]
        created = _all_succeed(served, racers(tasks), 201)

        assert sorted(block["position"] for block in created) == list(range(RACERS))
        _, blocks = served.ok("GET", f"/items/{refcode}/blocks")
        assert sorted(b["data"]["text"] for b in blocks) == sorted(str(r) for r in range(RACERS))
        assert _versions_of(served, refcode) == [(1, "create")] + [
            (n, "block_create") for n in range(2, RACERS + 2)
        ]


def test_concurrent_api_key_creation_loses_none(served: Served, racers: Any) -> None:
    url = served.url("/users/me/api-keys")
    for round_ in range(ROUNDS):
        tasks = [
            (r, url, served.token, "POST", {"name": f"key {round_}-{r}"}, {}) for r in range(RACERS)
        ]
        created = _all_succeed(served, racers(tasks), 201)
        _, listed = served.ok("GET", "/users/me/api-keys")
        assert {f"key {round_}-{r}" for r in range(RACERS)} <= {key["name"] for key in listed}
        for key in created:  # each works at once
            status, _, me = http("GET", served.url("/users/me"), key["key"])
            assert (status, me["email"]) == (200, "racer@lab.org")


def test_uploads_racing_edits_of_one_item_each_take_their_own_version(
    served: Served, racers: Any
) -> None:
    """Half the racers upload, half PATCH with the same If-Match: every upload lands,
    one edit wins (or none, when an upload changed the item first: 412), and the
    versions are numbered without a gap or a repeat. (An outside load test once saw
    uploads racing edits answer 500.)"""
    for round_ in range(ROUNDS):
        etag, item = served.ok("POST", "/items", {"type": "sample", "name": "busy item"})
        refcode = item["refcode"]
        tasks = []
        for racer in range(RACERS):
            if racer % 2:
                body, headers = multipart_file(f"r{racer}.txt", f"{round_}/{racer}".encode())
                url = served.url(f"/items/{refcode}/files")
                tasks.append((racer, url, served.token, "POST", body, headers))
            else:
                url = served.url(f"/items/{refcode}")
                edit = {"If-Match": etag}
                tasks.append((racer, url, served.token, "PATCH", _item_edit(racer), edit))
        results = racers(tasks)

        statuses = {racer: status for racer, status, _ in results}
        log = served.server.log()[-4000:]
        uploads = [statuses[racer] for racer in range(1, RACERS, 2)]
        edits = [statuses[racer] for racer in range(0, RACERS, 2)]
        assert uploads == [201] * len(uploads), f"{results}\nserver log (end):\n{log}"
        assert sorted(edits) in ([200] + [412] * (len(edits) - 1), [412] * len(edits)), results
        won = edits.count(200)
        versions = _versions_of(served, refcode)
        assert [number for number, _ in versions] == list(range(1, 2 + len(uploads) + won))
        _, stored = served.ok("GET", f"/items/{refcode}")
        assert stored["version"] == 1 + len(uploads) + won
