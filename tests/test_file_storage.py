"""The content-addressed file store and downloads of stored content, on real files."""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import stat
import time
from pathlib import Path

import flask
import pytest
from labvault.api import LabvaultApi
from labvault.builtins.store_local import CHUNK_SIZE, LocalFileStore
from labvault.files.names import guess_media_type, safe_filename
from labvault.files.storage import collect_content
from labvault.plugin import ContentMissing, ContentTooLarge
from labvault.web.download import (
    content_disposition_names,
    send_stored_file,
    served_media_type,
)
from werkzeug.exceptions import ClientDisconnected
from werkzeug.http import parse_options_header

HOUR = 3600
UNICODE_NAME = "Résumé \u2013 données.csv"  # with an en dash


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stored_files(store: LocalFileStore) -> list[Path]:
    """Every file under the store's root except temp files and the lock file."""
    return sorted(
        path
        for path in store.root.rglob("*")
        if path.is_file()
        and path.name != ".lock"
        and path.relative_to(store.root).parts[0] != "tmp"
    )


def temp_files(store: LocalFileStore) -> list[Path]:
    return sorted(store.temp_directory.iterdir()) if store.temp_directory.exists() else []


def make_old(path: Path, seconds: float = 2 * HOUR) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


class BrokenStream(io.RawIOBase):
    """Yields ``chunks`` chunks of data, then raises ``error``: a client that went away."""

    def __init__(self, error: BaseException, chunks: int = 3) -> None:
        self.error = error
        self.chunks = chunks

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.chunks == 0:
            raise self.error
        self.chunks -= 1
        return b"x" * CHUNK_SIZE


@pytest.fixture
def store(tmp_path: Path) -> LocalFileStore:
    return LocalFileStore.at(tmp_path / "files")


# --- saving ---------------------------------------------------------------------------


def test_content_is_stored_read_only_under_its_sha256(store):
    content = os.urandom(2 * CHUNK_SIZE + 123)  # several chunks

    stored = store.store(io.BytesIO(content), max_size=None)

    digest = sha256_of(content)
    assert stored.sha256 == digest
    assert stored.size == len(content)
    assert stored.created is True
    assert stored.path == store.root / digest[:2] / digest[2:4] / digest
    assert stored.path.read_bytes() == content
    assert stat.S_IMODE(stored.path.stat().st_mode) == 0o444
    assert stored_files(store) == [stored.path]
    assert temp_files(store) == []


def test_identical_content_is_stored_once(store):
    first = store.store(io.BytesIO(b"spectrum"), max_size=None)
    second = store.store(io.BytesIO(b"spectrum"), max_size=None)

    assert (first.created, second.created) == (True, False)
    assert first.sha256 == second.sha256 and first.path == second.path
    assert stored_files(store) == [first.path]
    assert temp_files(store) == []


def test_empty_content_is_allowed(store):
    stored = store.store(io.BytesIO(b""), max_size=0)

    assert (stored.sha256, stored.size) == (sha256_of(b""), 0)
    assert stored.path.read_bytes() == b""


def test_content_of_exactly_max_size_is_stored(store):
    stored = store.store(io.BytesIO(b"0123456789"), max_size=10)

    assert stored.size == 10


def test_content_over_max_size_leaves_nothing(store):
    with pytest.raises(ContentTooLarge) as failure:
        store.store(io.BytesIO(os.urandom(CHUNK_SIZE + 1)), max_size=CHUNK_SIZE)

    assert failure.value.status == 413  # answered as 413 if a route lets it through
    assert failure.value.max_size == CHUNK_SIZE
    assert stored_files(store) == []
    assert temp_files(store) == []


@pytest.mark.parametrize(
    "error",
    [ClientDisconnected(), OSError("No space left on device"), KeyboardInterrupt()],
    ids=["client-disconnected", "disk-full", "interrupted"],
)
def test_a_stream_failing_midway_leaves_nothing(store, error):
    with pytest.raises(type(error)):
        store.store(BrokenStream(error), max_size=None)

    assert stored_files(store) == []
    assert temp_files(store) == []


def _save_in_another_process(root: str, source: str, barrier, results) -> None:
    with open(source, "rb") as stream:
        barrier.wait()  # both processes start writing at the same moment
        stored = LocalFileStore.at(root).store(stream, max_size=None)
    results.put((stored.sha256, stored.size, stored.created))


def test_two_processes_saving_the_same_content_store_one_copy(store, tmp_path):
    content = os.urandom(20 * 1024 * 1024)
    source = tmp_path / "upload.bin"
    source.write_bytes(content)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    results = context.Queue()
    processes = [
        context.Process(
            target=_save_in_another_process, args=(str(store.root), str(source), barrier, results)
        )
        for _ in range(2)
    ]
    for process in processes:
        process.start()
    answers = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0

    digest = sha256_of(content)
    assert sorted(answers) == [(digest, len(content), False), (digest, len(content), True)]
    assert stored_files(store) == [store.path_for(digest)]
    assert store.path_for(digest).read_bytes() == content
    assert temp_files(store) == []


# --- finding content ------------------------------------------------------------------


@pytest.mark.parametrize(
    "digest",
    [
        "../../etc/passwd",
        "../" + "a" * 61,
        "a" * 63,
        "a" * 65,
        "A" * 64,
        "g" * 64,
        "/" + "a" * 63,
        "a" * 64 + "\n",
        "",
        None,
    ],
)
def test_path_for_rejects_what_is_not_a_digest(store, digest):
    with pytest.raises(ValueError, match="not a sha256 hex digest"):
        store.path_for(digest)


def test_open_exists_and_remove(store):
    stored = store.store(io.BytesIO(b"data"), max_size=None)

    assert store.exists(stored.sha256)
    with store.open(stored.sha256) as stream:
        assert stream.read() == b"data"
    assert store.delete(stored.sha256) is True
    assert not store.exists(stored.sha256)
    assert store.delete(stored.sha256) is False
    with pytest.raises(ContentMissing, match=stored.sha256):
        store.open(stored.sha256)


def test_all_digests_lists_stored_content_only(store):
    digests = sorted(
        store.store(io.BytesIO(data), max_size=None).sha256 for data in (b"a", b"b", b"c")
    )
    (store.temp_directory / "upload-1234.part").write_bytes(b"in flight")
    (store.root / "README").write_text("not content")
    misplaced = store.root / "00" / "00" / digests[0]  # a digest in the wrong directory
    misplaced.parent.mkdir(parents=True)
    misplaced.write_bytes(b"a")

    assert list(store.all_digests()) == digests


def test_an_empty_or_absent_store_has_no_digests(store):
    assert list(store.all_digests()) == []
    assert collect_content(store, set()).removed == []
    assert store.delete("0" * 64) is False
    assert not store.root.exists()


# --- garbage collection ---------------------------------------------------------------


@pytest.fixture
def aged_store(store):
    """A store with referenced old content, unreferenced old content and a new upload."""
    contents = {}
    for label in ("referenced", "orphan", "young"):
        stored = store.store(io.BytesIO(label.encode()), max_size=None)
        contents[label] = stored.sha256
        if label != "young":
            make_old(stored.path)
    return store, contents


@pytest.mark.parametrize("as_function", [False, True], ids=["set", "function"])
def test_gc_removes_old_unreferenced_content_only(aged_store, as_function):
    store, contents = aged_store
    referenced = {contents["referenced"]}

    report = collect_content(store, referenced.__contains__ if as_function else referenced)

    assert report.removed == [contents["orphan"]]
    assert report.kept == 2
    assert report.bytes_freed == len(b"orphan")
    assert not store.exists(contents["orphan"])
    assert store.exists(contents["referenced"]) and store.exists(contents["young"])


def test_gc_dry_run_reports_but_removes_nothing(aged_store):
    store, contents = aged_store
    stale_temp = store.temp_directory / "upload-stale.part"
    stale_temp.write_bytes(b"abandoned")
    make_old(stale_temp)
    before = stored_files(store)

    report = collect_content(store, {contents["referenced"]}, dry_run=True)

    assert report.removed == [contents["orphan"]]
    assert report.temp_files_removed == 1
    assert report.bytes_freed == len(b"orphan") + len(b"abandoned")
    assert stored_files(store) == before
    assert stale_temp.exists()


def test_gc_grace_period_is_configurable(aged_store):
    store, contents = aged_store

    report = collect_content(store, {contents["referenced"]}, grace_seconds=0)

    assert sorted(report.removed) == sorted([contents["orphan"], contents["young"]])


def test_gc_removes_stale_temp_files_but_not_uploads_in_flight(store):
    store.temp_directory.mkdir(parents=True)
    stale = store.temp_directory / "upload-crashed.part"
    stale.write_bytes(b"half an upload")
    make_old(stale)
    in_flight = store.temp_directory / "upload-writing.part"
    in_flight.write_bytes(b"being written")

    report = collect_content(store, set())

    assert report.temp_files_removed == 1
    assert report.bytes_freed == len(b"half an upload")
    assert temp_files(store) == [in_flight]


def test_uploading_collectable_content_again_saves_it_from_gc(store):
    old = store.store(io.BytesIO(b"unreferenced for a while"), max_size=None)
    make_old(old.path)

    again = store.store(io.BytesIO(b"unreferenced for a while"), max_size=None)
    report = collect_content(store, set())  # the new row is not committed yet

    assert again.created is False
    assert report.removed == []
    assert store.exists(old.sha256)


# --- names and media types ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("spectrum.csv", "spectrum.csv"),
        ("../../etc/passwd", "passwd"),
        ("C:\\x\\y.txt", "y.txt"),
        ("dir/", "file"),
        ("..", "file"),
        ("", "file"),
        ("  \t\n ", "file"),
        ('say "hi"\r\n.txt', "say hi.txt"),
        ("null\x00byte.bin", "nullbyte.bin"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),  # right-to-left override
        ("Re\u0301sume\u0301.pdf", "Résumé.pdf"),  # decomposed accents, composed
        (UNICODE_NAME, UNICODE_NAME),
    ],
)
def test_safe_filename(name, expected):
    assert safe_filename(name) == expected


@pytest.mark.parametrize("stem", ["a" * 300, "é" * 200, "数" * 100])
def test_safe_filename_trims_to_255_bytes_keeping_the_extension(stem):
    name = safe_filename(stem + ".csv")

    assert len(name.encode()) <= 255
    assert len(name.encode()) > 250
    assert name.endswith(".csv")
    assert name[:-4] == stem[: len(name) - 4]  # whole characters only


@pytest.mark.parametrize(
    ("name", "head", "expected"),
    [
        ("data.csv", b"", "text/csv"),
        ("IMAGE.PNG", b"", "image/png"),
        ("run.csv.gz", b"", "application/gzip"),
        ("page.html", b"", "text/html"),  # stored truthfully, served as bytes
        ("noextension", b"\x89PNG\r\n\x1a\n...", "image/png"),
        ("measurement.raw", b"%PDF-1.7", "application/pdf"),
        ("measurement.raw", b"\x00\x01", "application/octet-stream"),
        ("", b"", "application/octet-stream"),
    ],
)
def test_guess_media_type(name, head, expected):
    assert guess_media_type(name, head) == expected


@pytest.mark.parametrize(
    ("media_type", "served"),
    [
        ("text/csv", "text/csv"),
        ("text/plain; charset=latin-1", "text/plain; charset=latin-1"),
        ("image/png", "image/png"),
        ("text/html", "application/octet-stream"),
        ("Text/HTML; charset=utf-8", "application/octet-stream"),
        ("image/svg+xml", "application/octet-stream"),
        ("application/xhtml+xml", "application/octet-stream"),
        ("application/xml", "application/octet-stream"),
        ("text/javascript", "application/octet-stream"),
        ("application/x-javascript", "application/octet-stream"),
        ("text/plain\r\nSet-Cookie: a=b", "application/octet-stream"),
        ("nonsense", "application/octet-stream"),
    ],
)
def test_served_media_type(media_type, served):
    assert served_media_type(media_type) == served


# --- downloads ------------------------------------------------------------------------

CONTENT = bytes(range(256)) * 4


@pytest.fixture
def app(store):
    """A tiny app with labvault's error handling and routes around the store."""
    app = flask.Flask(__name__)
    app.config.update(API_TITLE="test", API_VERSION="1", OPENAPI_VERSION="3.0.3")
    LabvaultApi(app)

    @app.get("/content/<sha256>")
    def download(sha256):
        args = flask.request.args
        return send_stored_file(
            store,
            sha256,
            name=args.get("name", "data.bin"),
            media_type=args.get("type", "application/octet-stream"),
            size=len(CONTENT),
        )

    @app.post("/upload")
    def upload():
        stored = store.store(flask.request.files["file"].stream, max_size=100)
        return {"sha256": stored.sha256}, 201

    return app


@pytest.fixture
def digest(store):
    return store.store(io.BytesIO(CONTENT), max_size=None).sha256


def get(app, digest, *, headers=None, **args):
    with app.test_client().get(f"/content/{digest}", query_string=args, headers=headers) as r:
        r.get_data()  # read before the file is closed
        return r


def test_download_sends_the_content_with_its_sha256_as_etag(app, digest):
    response = get(app, digest, type="text/csv")

    assert response.status_code == 200
    assert response.data == CONTENT
    assert response.headers["ETag"] == f'"{digest}"'
    assert response.headers["Content-Length"] == str(len(CONTENT))
    assert response.headers["Content-Type"] == "text/csv"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert "private" in response.headers["Cache-Control"]
    assert "public" not in response.headers["Cache-Control"]


def test_download_of_a_range(app, digest):
    response = get(app, digest, headers={"Range": "bytes=10-19"})

    assert response.status_code == 206
    assert response.data == CONTENT[10:20]
    assert response.headers["Content-Range"] == f"bytes 10-19/{len(CONTENT)}"
    assert response.headers["Content-Length"] == "10"


def test_download_of_an_unsatisfiable_range_is_416_json(app, digest):
    response = get(app, digest, headers={"Range": "bytes=5000-6000"})

    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{len(CONTENT)}"
    assert response.json["code"] == 416
    assert "1024 bytes" in response.json["message"]


def test_download_if_none_match_is_304(app, digest):
    response = get(app, digest, headers={"If-None-Match": f'"{digest}"'})

    assert response.status_code == 304
    assert response.data == b""
    assert response.headers["ETag"] == f'"{digest}"'


@pytest.mark.parametrize(
    ("name", "disposition"),
    [
        ("../../etc/passwd", "attachment; filename=passwd"),
        ("C:\\x\\y.txt", "attachment; filename=y.txt"),
        ('my "best"\r\nrun;x=1.csv', 'attachment; filename="my bestrun;x=1.csv"'),
        (
            UNICODE_NAME,
            'attachment; filename="Resume donnees.csv"; '
            "filename*=UTF-8''R%C3%A9sum%C3%A9%20%E2%80%93%20donn%C3%A9es.csv",
        ),
        ("数据.csv", "attachment; filename=file.csv; filename*=UTF-8''%E6%95%B0%E6%8D%AE.csv"),
    ],
)
def test_download_content_disposition_is_safe(app, digest, name, disposition):
    response = get(app, digest, name=name)

    assert response.headers["Content-Disposition"] == disposition


def test_unicode_names_survive_a_header_parser():
    header = "attachment; " + "; ".join(
        f"{key}={value}" if key.endswith("*") else f'{key}="{value}"'
        for key, value in content_disposition_names(UNICODE_NAME).items()
    )

    assert parse_options_header(header)[1]["filename"] == UNICODE_NAME


@pytest.mark.parametrize("media_type", ["text/html", "image/svg+xml", "text/javascript"])
def test_active_content_is_served_as_bytes(app, digest, media_type):
    response = get(app, digest, type=media_type, name="page.html")

    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_download_of_missing_or_truncated_content_raises(app, store, digest):
    with app.test_request_context():
        with pytest.raises(ContentMissing, match="has 1024 bytes, not 10"):
            send_stored_file(store, digest, name="x", media_type="text/plain", size=10)
        store.delete(digest)
        with pytest.raises(ContentMissing, match="missing"):
            send_stored_file(store, digest, name="x", media_type="text/plain", size=1024)


def test_upload_over_the_limit_is_413_json_and_leaves_nothing(app, store):
    response = app.test_client().post("/upload", data={"file": (io.BytesIO(b"x" * 101), "big.bin")})

    assert response.status_code == 413
    assert response.json["code"] == 413
    assert "100 bytes" in response.json["message"]
    assert stored_files(store) == []
    assert temp_files(store) == []
