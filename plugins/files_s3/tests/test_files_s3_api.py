"""A server whose FILE_STORE is a bucket: uploads go up in parts as they arrive (nothing
on the local disk), downloads ask the store for the requested range only, or redirect to
a presigned URL where the deployer allows it."""

from __future__ import annotations

import hashlib
import io
import os
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from files_s3_peers import BUCKET, PART, store_options
from labvault_files_s3 import S3FileStore


@pytest.fixture
def make_app(labvault_make_app: Any, s3_endpoint: str, s3: Any, tmp_path: Path) -> Any:
    def make(**options: Any) -> Any:
        return labvault_make_app(
            PLUGINS=["files_s3"],
            FILE_DIRECTORY=str(tmp_path / "files"),
            FILE_STORE={"type": "s3", **store_options(s3_endpoint, **options)},
        )

    return make


def upload(app: Any, user: Any, data: bytes, name: str = "pattern.xy") -> Any:
    client = app.test_client()
    refcode = client.post(
        "/items", json={"type": "sample", "name": "s"}, headers=user.headers
    ).json["refcode"]
    uploaded = client.post(
        f"/items/{refcode}/files",
        data={"file": (io.BytesIO(data), name)},
        headers=user.headers,
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 201, uploaded.json
    return uploaded.json


def test_an_upload_goes_up_in_parts_and_a_range_is_read_as_asked(
    make_app, labvault_make_user, s3, tmp_path, monkeypatch
):
    app = make_app()
    user = labvault_make_user(app)
    data = os.urandom(2 * PART + 1000)
    parts: list[int] = []
    upload_part = S3FileStore.call

    def noting(self: S3FileStore, doing: str, operation: str, **arguments: Any) -> Any:
        if operation == "upload_part":
            parts.append(len(arguments["Body"]))
        return upload_part(self, doing, operation, **arguments)

    monkeypatch.setattr(S3FileStore, "call", noting)

    stored = upload(app, user, data)

    digest = hashlib.sha256(data).hexdigest()
    assert stored["sha256"] == digest
    assert parts == [PART, PART, 1000]
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", ())]
    assert keys == [f"{digest[:2]}/{digest[2:4]}/{digest}"]
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    # nothing of it was written to the local disk
    assert not any(path.is_file() for path in (tmp_path / "files").rglob("*"))

    fetched: list[tuple[int, Any]] = []
    get = S3FileStore._get

    def recording(self: S3FileStore, sha256: str, start: int, end: Any) -> Any:
        fetched.append((start, end))
        return get(self, sha256, start, end)

    monkeypatch.setattr(S3FileStore, "_get", recording)
    client = app.test_client()
    url = f"/files/{stored['id']}/content"
    ranged = client.get(url, headers={**user.headers, "Range": f"bytes={PART - 5}-{PART + 4}"})
    whole = client.get(url, headers=user.headers)
    unchanged = client.get(url, headers={**user.headers, "If-None-Match": f'"{digest}"'})

    assert (ranged.status_code, ranged.data) == (206, data[PART - 5 : PART + 5])
    assert ranged.headers["Content-Range"] == f"bytes {PART - 5}-{PART + 4}/{len(data)}"
    assert (whole.status_code, whole.data == data) == (200, True)
    assert whole.headers["ETag"] == f'"{digest}"'
    assert unchanged.status_code == 304
    assert fetched == [(PART - 5, PART + 5), (0, len(data))]
    past_the_end = client.get(url, headers={**user.headers, "Range": f"bytes={len(data)}-"})
    assert past_the_end.status_code == 416


def test_a_download_redirects_to_a_presigned_url_when_allowed(make_app, labvault_make_user):
    app = make_app(redirect_downloads=True, redirect_seconds=30)
    user = labvault_make_user(app)
    stored = upload(app, user, b"2theta,counts\n10,5\n", name="scan (1).csv")

    answer = app.test_client().get(f"/files/{stored['id']}/content", headers=user.headers)

    assert answer.status_code == 307
    assert answer.headers["Cache-Control"] == "private, no-store"
    location = answer.headers["Location"]
    assert "X-Amz-Signature=" in location and "X-Amz-Expires=30" in location
    with urllib.request.urlopen(location, timeout=10) as direct:
        assert direct.read() == b"2theta,counts\n10,5\n"
        assert direct.headers["Content-Disposition"].startswith("attachment")
        assert "scan (1).csv" in direct.headers["Content-Disposition"]
        assert direct.headers["Content-Type"] == "text/csv"
