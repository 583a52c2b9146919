"""The SSH source through labvault's API: browsing its listing, attaching a file from
it to an item, and what a client sees when the host is gone."""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fs_ssh_peers import Sshd, make_key, source_options
from labvault.testing import TestUser, flipping_link, make_source_tree, within

Lab = tuple[Any, TestUser]


@pytest.fixture
def make_lab(
    labvault_make_app: Callable[..., Any], labvault_make_user: Callable[..., TestUser]
) -> Callable[..., Lab]:
    """Factory: ``make_lab(server, root, **options)`` -> (test client, user) of an app
    with the SSH source "xrd-pc" reading ``root`` on ``server``."""

    def make(server: Sshd, root: Path, **options: Any) -> Lab:
        source = {"type": "ssh", **source_options(server, root, **options)}
        app = labvault_make_app(PLUGINS=["fs_ssh"], FILE_SOURCES={"xrd-pc": source})
        return app.test_client(), labvault_make_user(app)

    return make


def new_item(client: Any, user: TestUser) -> str:
    answer = client.post("/items", json={"type": "sample", "name": "powder"}, headers=user.headers)
    assert answer.status_code == 201, answer.json
    refcode: str = answer.json["refcode"]
    return refcode


def attach(client: Any, user: TestUser, refcode: str, path: str) -> Any:
    return client.post(
        f"/items/{refcode}/files/from-source",
        json={"source": "xrd-pc", "path": path},
        headers=user.headers,
    )


def names(client: Any, user: TestUser, path: str) -> list[str]:
    answer = client.get(
        "/file-sources/xrd-pc/entries", query_string={"path": path}, headers=user.headers
    )
    assert answer.status_code == 200, answer.json
    return [entry["name"] for entry in answer.json["entries"]]


def test_the_ssh_source_is_listed_and_browsed(
    sshd: Sshd, make_lab: Callable[..., Lab], data: Path
) -> None:
    make_source_tree(data)
    client, ada = make_lab(sshd, data, description="XRD PC exports")

    assert names(client, ada, "") == ["empty", "inside", "sub", "a.txt"]  # not "outside"
    assert names(client, ada, "sub") == ["deeper", "b.csv"]
    assert names(client, ada, "sub/deeper") == ["c.bin"]
    (source,) = client.get("/file-sources", headers=ada.headers).json
    assert (source["name"], source["type"], source["description"]) == (
        "xrd-pc",
        "ssh",
        "XRD PC exports",
    )
    assert source["entry_count"] == 7 and source["last_error"] is None


def test_a_file_is_attached_from_the_ssh_source(
    sshd: Sshd, make_lab: Callable[..., Lab], data: Path
) -> None:
    content = os.urandom(3 * 1024 * 1024 + 17)  # many read requests, a short last one
    (data / "scans").mkdir()
    (data / "scans" / "run-7.raw").write_bytes(content)
    client, ada = make_lab(sshd, data)
    refcode = new_item(client, ada)

    answer = attach(client, ada, refcode, "scans/run-7.raw")

    assert answer.status_code == 201, answer.json
    assert (answer.json["name"], answer.json["size"]) == ("run-7.raw", len(content))
    assert answer.json["origin"] == "xrd-pc:scans/run-7.raw"
    assert client.get(answer.json["content_url"], headers=ada.headers).data == content


def test_a_stopped_server_is_a_502_and_nothing_is_attached(
    own_sshd: Sshd, make_lab: Callable[..., Lab], data: Path
) -> None:
    (data / "a.txt").write_text("a")
    client, ada = make_lab(own_sshd, data, connect_timeout=2)
    refcode = new_item(client, ada)
    assert names(client, ada, "") == ["a.txt"]

    own_sshd.kill()
    with within(2):
        answer = attach(client, ada, refcode, "a.txt")

    assert answer.status_code == 502
    assert answer.json["code"] == 502
    assert f"cannot reach 127.0.0.1:{own_sshd.port}" in answer.json["message"]
    assert client.get(f"/items/{refcode}/files", headers=ada.headers).json == []
    versions = client.get(f"/items/{refcode}/versions", headers=ada.headers).json
    assert [version["action"] for version in versions] == ["create"]


def test_a_first_listing_of_a_stopped_server_is_a_502(
    own_sshd: Sshd, make_lab: Callable[..., Lab], data: Path
) -> None:
    client, ada = make_lab(own_sshd, data, connect_timeout=2)
    own_sshd.kill()

    with within(2):
        answer = client.get("/file-sources/xrd-pc/entries", headers=ada.headers)

    assert answer.status_code == 502
    assert f"cannot reach 127.0.0.1:{own_sshd.port}" in answer.json["message"]


@pytest.mark.parametrize("fault", ["changed host key", "refused user key"])
def test_a_host_that_cannot_be_trusted_or_logged_into_is_a_502_and_nothing_is_attached(
    sshd: Sshd, make_lab: Callable[..., Lab], data: Path, tmp_path: Path, fault: str
) -> None:
    (data / "a.txt").write_text("a")
    other = make_key(tmp_path / "other_ed25519")
    if fault == "changed host key":
        key_type, key = Path(f"{other}.pub").read_text().split()[:2]
        (tmp_path / "known_hosts").write_text(f"[127.0.0.1]:{sshd.port} {key_type} {key}\n")
        options: dict[str, Any] = {"known_hosts": str(tmp_path / "known_hosts")}
        expected = "possible man-in-the-middle"
    else:
        options = {"key_file": str(other)}
        expected = "refused the key"
    client, ada = make_lab(sshd, data, **options)
    refcode = new_item(client, ada)

    attached = attach(client, ada, refcode, "a.txt")
    listed = client.get("/file-sources/xrd-pc/entries", headers=ada.headers)

    for answer in (attached, listed):
        assert (answer.status_code, answer.json["code"]) == (502, 502)
        assert expected in answer.json["message"]
    assert client.get(f"/items/{refcode}/files", headers=ada.headers).json == []
    (source,) = client.get("/file-sources", headers=ada.headers).json
    assert expected in source["last_error"]


def test_a_link_flipped_between_an_inside_and_an_outside_file_never_copies_the_outside_one(
    sshd: Sshd, make_lab: Callable[..., Lab], data: Path, tmp_path: Path
) -> None:
    (data / "a.txt").write_bytes(b"inside")
    (tmp_path / "secret.env").write_bytes(b"SECRET_KEY=not yours")  # beside data
    client, ada = make_lab(sshd, data)
    refcode = new_item(client, ada)
    answers: Counter[int] = Counter()
    copied: Counter[str] = Counter()

    with flipping_link(data / "flip", "a.txt", "../secret.env"):
        for _ in range(300):
            answer = attach(client, ada, refcode, "flip")
            answers[answer.status_code] += 1
            if answer.status_code == 201:
                copied[answer.json["sha256"]] += 1

    outside = copied[hashlib.sha256(b"SECRET_KEY=not yours").hexdigest()]
    print(f"answers {dict(answers)}; copies of the outside file: {outside}")
    assert outside == 0
    assert copied[hashlib.sha256(b"inside").hexdigest()] == answers[201] > 0
    assert set(answers) == {201, 400}, answers
