"""A bucket out of reach is a 502 naming it, an overloaded one a 503, both in time;
server-side encryption covers every object written; what a killed upload left is
swept; the options are checked as a deployer wrote them."""

from __future__ import annotations

import contextlib
import http.server
import io
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import marshmallow as ma
import pytest
from files_s3_peers import BUCKET, PART, store_options
from labvault.plugin import Unavailable
from labvault.testing import free_port, within
from labvault_files_s3 import S3FileStore, StoreBusy

SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


class _Overloaded(http.server.BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.send_response(503)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(SLOW_DOWN)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(SLOW_DOWN)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _answer

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def overloaded_store() -> Iterator[str]:
    """An S3 endpoint on 127.0.0.1 that answers every request 503 SlowDown."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Overloaded)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def make_store(endpoint: str, **overrides: Any) -> S3FileStore:
    options = S3FileStore.OptionsSchema().load(store_options(endpoint, **overrides))
    return S3FileStore("default", options, None)  # type: ignore[arg-type]


def test_a_bucket_out_of_reach_is_a_502_naming_it_in_time() -> None:
    store = make_store(
        f"http://127.0.0.1:{free_port()}", connect_timeout=1, read_timeout=1, max_attempts=1
    )

    with within(5), pytest.raises(Unavailable) as raised:
        store.store(io.BytesIO(b"spectrum"))

    assert raised.value.status == 502
    assert f"file store s3://{BUCKET}/: cannot " in raised.value.message


def test_an_overloaded_store_is_a_503_to_try_again() -> None:
    with overloaded_store() as endpoint:
        store = make_store(endpoint, max_attempts=1)
        for attempt in (
            lambda: store.stat("a" * 64),
            lambda: store.store(io.BytesIO(b"spectrum")),
            lambda: list(store.list()),
        ):
            with within(5), pytest.raises(StoreBusy) as raised:
                attempt()
            assert raised.value.status == 503
            assert "try again later" in raised.value.message


def test_server_side_encryption_covers_every_object_written(
    make_s3_store: Callable[..., S3FileStore], s3: Any
) -> None:
    store = make_s3_store(server_side_encryption="AES256")

    small = store.store(io.BytesIO(b"small"))
    large = store.store(io.BytesIO(os.urandom(PART + 10)))  # in parts, then copied

    for stored in (small, large):
        head = s3.head_object(Bucket=BUCKET, Key=store.key_for(stored.sha256))
        assert head["ServerSideEncryption"] == "AES256"


def test_an_upload_a_killed_server_left_is_swept(
    make_s3_store: Callable[..., S3FileStore], s3: Any
) -> None:
    store = make_s3_store()
    killed = store.writer()
    killed.write(os.urandom(PART + 1))  # one part sent; the server dies before the rest
    assert len(s3.list_multipart_uploads(Bucket=BUCKET)["Uploads"]) == 1

    # (moto dates every multipart upload 2010-11-10, so one in flight cannot be shown
    # to be kept here; the incoming objects' dates are real)
    assert store.sweep(time.time() + 1, dry_run=True) == (1, 0)
    assert store.sweep(time.time() + 1) == (1, 0)

    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"multipart_threshold": PART}, {"multipart_threshold": ["Unknown field."]}),
        ({"multipart_chunksize": PART - 1}, {"multipart_chunksize": [ma.fields.Field]}),
        ({"redirect_seconds": 0}, {"redirect_seconds": [ma.fields.Field]}),
        ({"bucket": "lab/files"}, {"bucket": [ma.fields.Field]}),
    ],
)
def test_options_are_checked(options: dict[str, Any], problem: dict[str, Any]) -> None:
    with pytest.raises(ma.ValidationError) as raised:
        S3FileStore.OptionsSchema().load(store_options("http://127.0.0.1:9", **options))

    assert set(raised.value.messages) == set(problem)
    if problem[next(iter(problem))] == ["Unknown field."]:
        assert raised.value.messages == problem
