"""The core's backups kept in S3: a strategy run through the API into moto's server,
deduplication, multipart uploads of a large content, retention with content
collection, and a restore of a remaining snapshot by `labvault backup restore`."""

from __future__ import annotations

import io
import os
from typing import Any

from backup_s3_peers import MiB, Site, target_options
from labvault.testing import run_backup

KEY = "an-offsite-backup-key-of-40-characters-x"


def strategies(endpoint: str, bucket: str) -> dict[str, Any]:
    target = target_options(
        endpoint,
        bucket,
        prefix="labvault",
        multipart_threshold=5 * MiB,
        multipart_chunksize=5 * MiB,
    )
    return {
        "offsite": {
            "target": {"type": "s3", **target},
            "frequency": "1d",
            "retention": 2,
            "encryption_key_env": "OFFSITE_KEY",
        }
    }


def upload(client: Any, user: Any, refcode: str, content: bytes) -> int:
    response = client.post(
        f"/items/{refcode}/files",
        data={"file": (io.BytesIO(content), "raw.dat")},
        content_type="multipart/form-data",
        headers=user.headers,
    )
    assert response.status_code == 201, response.json
    file_id: int = response.json["id"]
    return file_id


def keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [entry["Key"] for page in pages for entry in page.get("Contents", [])]


def new_item(client: Any, user: Any, name: str) -> str:
    made = client.post("/items", json={"type": "sample", "name": name}, headers=user.headers)
    assert made.status_code == 201, made.json
    refcode: str = made.json["refcode"]
    return refcode


def delete_for_good(client: Any, admin: Any, site: Site, refcode: str) -> None:
    """As an admin does: the item to the trash, out of the trash for good (with its
    versions), then `labvault files gc` removes the files nothing refers to any more."""
    etag = client.get(f"/items/{refcode}", headers=admin.headers).headers["ETag"]
    deleted = client.delete(f"/items/{refcode}", headers={**admin.headers, "If-Match": etag})
    assert deleted.status_code == 204, deleted.json
    assert client.delete(f"/trash/{refcode}", headers=admin.headers).status_code == 204
    collected = site.run("files", "gc", "--grace-seconds", "0")
    assert collected.returncode == 0, collected.stdout + collected.stderr


def test_snapshots_in_s3_deduplicate_expire_and_restore(
    s3_endpoint,
    s3,
    bucket,
    labvault_make_app,
    labvault_make_user,
    labvault_settings,
    monkeypatch,
    tmp_path,
):
    monkeypatch.setenv("OFFSITE_KEY", KEY)
    settings = {"PLUGINS": ["backup_s3"], "BACKUP_STRATEGIES": strategies(s3_endpoint, bucket)}
    app = labvault_make_app(**settings)
    site = Site(tmp_path / "site", {**labvault_settings, **settings})  # the same instance
    client = app.test_client()
    admin = labvault_make_user(app, role="admin")
    refcode = new_item(client, admin, "cathode")
    sweep = new_item(client, admin, "sweep")
    upload(client, admin, sweep, os.urandom(12 * MiB))
    upload(client, admin, refcode, b"a small file in every snapshot")

    first = run_backup(client, admin.headers, "offsite")["last_report"]
    assert (first["files_uploaded"], first["files"]) == (2, 2)
    contents = keys(s3, bucket, "labvault/contents/")
    etags = [s3.head_object(Bucket=bucket, Key=key)["ETag"] for key in contents]
    # the 12 MiB content went in three parts of 5 MiB, the small one in one request
    assert sorted(etag.endswith('-3"') for etag in etags) == [False, True], etags

    delete_for_good(client, admin, site, sweep)
    second = run_backup(client, admin.headers, "offsite")["last_report"]
    assert (second["files_uploaded"], second["files_reused"]) == (0, 1)
    upload(client, admin, refcode, b"only in the third snapshot")
    third = run_backup(client, admin.headers, "offsite")["last_report"]

    assert third["snapshots_removed"] == [first["snapshot"]]
    assert third["contents_removed"] == 1
    assert len(keys(s3, bucket, "labvault/contents/")) == 2
    snapshots = {key.split("/")[2] for key in keys(s3, bucket, "labvault/snapshots/")}
    assert snapshots == {second["snapshot"], third["snapshot"]}
    listed = client.get("/backups", headers=admin.headers).json[0]
    assert [s["snapshot"] for s in listed["snapshots"]] == [second["snapshot"], third["snapshot"]]
    assert listed["encrypted"] and listed["target"] == "s3"

    site = Site(tmp_path / "restored", settings)
    restored = site.run("backup", "restore", "--strategy", "offsite", second["snapshot"])
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout.startswith(f"restored snapshot {second['snapshot']}: ")
    assert "1 files" in restored.stdout
    verified = site.run("backup", "verify", "--strategy", "offsite")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith("verified 2 snapshot(s)")
    users = site.run("users", "list")
    assert users.returncode == 0 and admin.email in users.stdout
