"""How large a request body may be: a file upload (multipart/form-data) up to
MAX_CONTENT_LENGTH, streamed to disk; every other body (JSON, a form, raw bytes) up to
MAX_JSON_LENGTH, held in memory. A larger one is 413 JSON, refused on its
Content-Length before a byte of it is read, or cut off at the limit when it comes
chunked; the routes of plugins are bounded the same way. A multipart body has at most 16
parts, each text field (held in memory) at most 128 KiB.

The limits do not differ between databases: these tests run on SQLite.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.records import assert_error, create_item
from tests.test_files import BOUNDARY

MIB = 1 << 20
#: Parts a multipart body may have (files and text fields), and bytes of one text field.
MAX_FORM_PARTS, MAX_FORM_FIELD_LENGTH = 16, 128 * 1024
#: What a 413 says of a body that is not an upload, at a limit.
NOT_AN_UPLOAD = "at most {} bytes for a body that is not a file upload"
UNKNOWN_REFRESH = {"refresh_token": "lvr_" + "x" * 43}


@pytest.fixture
def labvault_database_url(tmp_path):
    return f"sqlite:///{tmp_path / 'labvault.db'}"


def json_body(size: int) -> bytes:
    """A JSON object of exactly ``size`` bytes."""
    head, tail = b'{"refresh_token": "', b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def assert_too_large(response: Any, *phrases: str) -> None:
    """A 413 JSON answer whose message says each of ``phrases``."""
    body = assert_error(response, 413)
    assert body["status"] == "Request Entity Too Large"
    for phrase in phrases:
        assert phrase in body["message"], body


def test_a_json_body_over_max_json_length_is_413_whatever_the_upload_limit(labvault_make_app):
    client = labvault_make_app().test_client()  # defaults: 1 MiB of JSON, 1 GiB of upload

    over = client.post("/auth/refresh", data=json_body(MIB + 1), content_type="application/json")
    at_the_limit = client.post(
        "/auth/refresh", data=json_body(MIB), content_type="application/json"
    )

    assert_too_large(over, NOT_AN_UPLOAD.format(MIB))
    assert at_the_limit.status_code == 422  # read, and refused as a token far too long


def test_a_chunked_body_is_cut_off_at_max_json_length(labvault_make_app):
    client = labvault_make_app(MAX_JSON_LENGTH=1000).test_client()

    def chunked(size: int) -> Any:  # no Content-Length: the limit applies while reading
        return client.post(
            "/auth/refresh",
            input_stream=io.BytesIO(json_body(size)),
            content_type="application/json",
            headers={"Transfer-Encoding": "chunked"},
            environ_overrides={"wsgi.input_terminated": True},
        )

    assert_too_large(chunked(100_000), NOT_AN_UPLOAD.format(1000))
    assert_too_large(chunked(1001), NOT_AN_UPLOAD.format(1000))
    assert chunked(1000).status_code == 422  # read whole: a token far too long
    assert chunked(len(json.dumps(UNKNOWN_REFRESH))).status_code == 401


def test_uploads_keep_max_content_length(labvault_make_app, labvault_make_user):
    app = labvault_make_app(MAX_JSON_LENGTH=1000, MAX_CONTENT_LENGTH=100_000)
    client, user = app.test_client(), labvault_make_user(app)
    refcode = create_item(client, user, name="big data")["refcode"]

    def upload(size: int) -> Any:
        return client.post(
            f"/items/{refcode}/files",
            data={"file": (io.BytesIO(b"x" * size), "data.bin")},
            content_type="multipart/form-data",
            headers=user.headers,
        )

    assert upload(50_000).status_code == 201
    assert_too_large(upload(200_000), "at most 100000 bytes for a file upload")


def multipart_fields(*fields: tuple[str, bytes]) -> bytes:
    """A multipart body of text fields (no file)."""
    parts = b"".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        + value
        + b"\r\n"
        for name, value in fields
    )
    return parts + f"--{BOUNDARY}--\r\n".encode()


def test_a_multipart_body_has_few_parts_and_short_text_fields(
    labvault_make_app, labvault_make_user
):
    app = labvault_make_app()
    client, manager = app.test_client(), labvault_make_user(app, role="manager")

    def import_form(*fields: tuple[str, bytes]) -> Any:
        return client.post(
            "/inventory/imports",
            data=multipart_fields(*fields),
            content_type=f"multipart/form-data; boundary={BOUNDARY}",
            headers=manager.headers,
        )

    long_field = import_form(("importer", b"x" * (MAX_FORM_FIELD_LENGTH + 1)))
    many_fields = import_form(*[(f"f{n}", b"x") for n in range(MAX_FORM_PARTS + 1)])
    short = import_form(("importer", b"x" * MAX_FORM_FIELD_LENGTH))

    assert_too_large(long_field, f"each text field at most {MAX_FORM_FIELD_LENGTH} bytes")
    assert_too_large(many_fields, f"in at most {MAX_FORM_PARTS} parts")
    assert_error(short, 422, "file", location="files")  # read: its file is missing


#: A plugin whose routes read bodies: two through labvault's Blueprint and a schema (JSON,
#: a form), one a plain Flask route reading the raw body itself.
READER = """
    import flask
    import marshmallow as ma
    from labvault.plugin import Blueprint, hookimpl

    class Note(ma.Schema):
        text = ma.fields.String()

    @hookimpl
    def labvault_blueprints():
        documented = Blueprint("reader", __name__, url_prefix="/reader")

        @documented.route("/note", methods=["POST"])
        @documented.arguments(Note)
        @documented.response(200)
        def note(body):
            return {"length": len(body["text"])}

        @documented.route("/form", methods=["POST"])
        @documented.arguments(Note, location="form")
        @documented.response(200)
        def form(body):
            return {"length": len(body["text"])}

        plain = flask.Blueprint("raw_reader", __name__, url_prefix="/raw-reader")

        @plain.route("/bytes", methods=["POST"])
        def raw_bytes():
            return {"length": len(flask.request.get_data())}

        @plain.route("/file", methods=["POST"])
        def raw_file():  # a route taking a raw file sets its own limit
            flask.request.max_content_length = 5000
            return {"length": len(flask.request.get_data())}

        return [documented, plain]
"""


def test_the_routes_of_plugins_are_bounded_the_same_way(dists, labvault_make_app):
    dists.add("reader", READER)
    client = labvault_make_app(PLUGINS=["reader"], MAX_JSON_LENGTH=1000).test_client()

    note = client.post("/reader/note", json={"text": "x" * 2000})
    form = client.post("/reader/form", data={"text": "x" * 2000})
    raw = client.post("/raw-reader/bytes", data=b"x" * 2000)
    raw_chunked = client.post(
        "/raw-reader/bytes",
        input_stream=io.BytesIO(b"x" * 2000),
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )

    assert client.post("/reader/note", json={"text": "x" * 900}).json == {"length": 900}
    assert client.post("/reader/form", data={"text": "x" * 900}).json == {"length": 900}
    assert client.post("/raw-reader/bytes", data=b"x" * 1000).json == {"length": 1000}
    assert client.post("/raw-reader/file", data=b"x" * 5000).json == {"length": 5000}
    assert client.post("/raw-reader/file", data=b"x" * 5001).status_code == 413
    for response in (note, form, raw, raw_chunked):
        assert_too_large(response, NOT_AN_UPLOAD.format(1000))


# --- under gunicorn, as deployed -------------------------------------------------------

#: What the issue sent: 150 MB of JSON to a route that needs no sign-in.
ATTACK_SIZE = 150 * 1000 * 1000


def worker_rss_mib(served: Any) -> float:
    """The resident memory of the served site's one gunicorn worker."""
    (pid,) = (
        Path(f"/proc/{served.process.pid}/task/{served.process.pid}/children").read_text().split()
    )
    status = Path(f"/proc/{pid}/status").read_text()
    (line,) = [line for line in status.splitlines() if line.startswith("VmRSS:")]
    return int(line.split()[1]) / 1024


def chunks_of(body: bytes, size: int = MIB) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def post_refresh(port: int, body: Any, **headers: str) -> tuple[int, dict[str, Any]]:
    """POST /auth/refresh to a served site; the status and JSON body of the answer."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        # the server may answer and close while the rest of the body is being sent
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.request(
                "POST",
                "/auth/refresh",
                body=body,
                headers={"Content-Type": "application/json", **headers},
                encode_chunked=not isinstance(body, bytes),
            )
        answer = connection.getresponse()
        return answer.status, json.loads(answer.read())
    finally:
        connection.close()


@pytest.fixture
def served(labvault_serve: Any) -> tuple[Any, int]:
    """A site served by one worker, warmed up by a refresh; its port."""
    site = labvault_serve(workers=1)
    port = int(site.base_url.rsplit(":", 1)[1])
    assert post_refresh(port, json.dumps(UNKNOWN_REFRESH).encode())[0] == 401
    return site, port


def test_a_served_site_refuses_an_announced_large_body_before_it_is_sent(served):
    _, port = served
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.putrequest("POST", "/auth/refresh")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(ATTACK_SIZE))
    connection.endheaders()  # and not a byte of the body
    started = time.monotonic()
    answer = connection.getresponse()

    assert answer.status == 413
    assert "not a file upload" in json.loads(answer.read())["message"]
    assert time.monotonic() - started < 5
    connection.close()


def test_a_served_worker_reads_a_chunked_large_body_only_up_to_the_limit(served):
    site, port = served
    before = worker_rss_mib(site)

    status, answer = post_refresh(port, chunks_of(json_body(ATTACK_SIZE)))

    assert status == 413, answer
    grown = worker_rss_mib(site) - before
    assert grown < 32, f"the worker grew by {grown:.0f} MiB"
