"""A site's files moved from its folder into a bucket and back by `labvault files move`,
and a backup of a site on its folder restored onto a bucket: the commands a deployer
runs, as they run them."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from files_s3_peers import BUCKET, PART, store_options
from labvault.testing import run_backup


def labvault(config: dict[str, Any], folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``labvault ARGS`` with ``config`` as its config.py (written into ``folder``)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.py"
    path.write_text("".join(f"{key} = {value!r}\n" for key, value in config.items()))
    done = subprocess.run(
        [str(Path(sys.executable).parent / "labvault"), *args],
        env={**os.environ, "LABVAULT_CONFIG": str(path)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def upload_all(app: Any, user: Any, contents: list[bytes]) -> list[dict[str, Any]]:
    client = app.test_client()
    refcode = client.post(
        "/items", json={"type": "sample", "name": "s"}, headers=user.headers
    ).json["refcode"]
    stored = []
    for number, data in enumerate(contents):
        response = client.post(
            f"/items/{refcode}/files",
            data={"file": (io.BytesIO(data), f"f{number}.bin")},
            headers=user.headers,
            content_type="multipart/form-data",
        )
        assert response.status_code == 201, response.json
        stored.append(response.json)
    return stored


def keys(s3: Any, prefix: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [entry["Key"] for page in pages for entry in page.get("Contents", [])]


def content_key(prefix: str, sha256: str) -> str:
    return f"{prefix}{sha256[:2]}/{sha256[2:4]}/{sha256}"


def test_files_move_from_the_folder_into_a_bucket_and_back(
    s3_endpoint, s3, labvault_make_app, labvault_make_user, labvault_settings, tmp_path
):
    site = {**labvault_settings, "PLUGINS": ["files_s3"], "FILE_DIRECTORY": str(tmp_path / "files")}
    app = labvault_make_app(**site)
    owner = labvault_make_user(app)
    contents = [b"small", os.urandom(PART + 7)]
    stored = upload_all(app, owner, contents)
    bucket = {"type": "s3", **store_options(s3_endpoint, prefix="labvault")}

    moved = labvault(site, tmp_path / "site", "files", "move", "--to", json.dumps(bucket))

    assert moved.returncode == 0, moved.stderr
    assert "copied 2 content(s)" in moved.stdout and "2 verified in s3://" in moved.stdout
    assert sorted(keys(s3, "labvault/")) == sorted(
        content_key("labvault/", file["sha256"]) for file in stored
    )
    on_s3 = labvault_make_app(**{**site, "FILE_STORE": bucket})
    client = on_s3.test_client()
    for file, data in zip(stored, contents, strict=True):
        assert client.get(file["content_url"], headers=owner.headers).data == data

    back = {"type": "local", "path": str(tmp_path / "back")}
    returned = labvault(
        {**site, "FILE_STORE": bucket}, tmp_path / "site", "files", "move", "--to", json.dumps(back)
    )

    assert returned.returncode == 0, returned.stderr
    for file, data in zip(stored, contents, strict=True):
        sha256 = file["sha256"]
        assert (tmp_path / "back" / sha256[:2] / sha256[2:4] / sha256).read_bytes() == data


def test_a_backup_of_a_site_on_its_folder_restores_onto_a_bucket(
    s3_endpoint, s3, labvault_make_app, labvault_make_user, labvault_settings, tmp_path
):
    strategies = {
        "nightly": {
            "target": {"type": "local", "path": str(tmp_path / "backups")},
            "frequency": "1d",
            "retention": 2,
        }
    }
    site = {
        **labvault_settings,
        "PLUGINS": ["files_s3"],
        "FILE_DIRECTORY": str(tmp_path / "files"),
        "BACKUP_STRATEGIES": strategies,
    }
    app = labvault_make_app(**site)
    admin = labvault_make_user(app, role="admin")
    contents = [b"a spectrum", os.urandom(PART + 3)]
    stored = upload_all(app, admin, contents)
    snapshot = run_backup(app.test_client(), admin.headers, "nightly")["last_report"]["snapshot"]
    bucket = {"type": "s3", **store_options(s3_endpoint, prefix="restored")}
    restored_site = {
        "IDENTIFIER_PREFIX": "test",
        "SECRET_KEY": labvault_settings["SECRET_KEY"],
        "INSTANCE_PATH": str(tmp_path / "restored"),
        "PLUGINS": ["files_s3"],
        "FILE_STORE": bucket,
        "BACKUP_STRATEGIES": strategies,
    }

    restored = labvault(
        restored_site, tmp_path / "restored", "backup", "restore", "--strategy", "nightly", snapshot
    )

    assert restored.returncode == 0, restored.stderr
    assert "2 files" in restored.stdout
    for file, data in zip(stored, contents, strict=True):
        body = s3.get_object(Bucket=BUCKET, Key=content_key("restored/", file["sha256"]))["Body"]
        assert hashlib.sha256(body.read()).hexdigest() == hashlib.sha256(data).hexdigest()
    assert not (tmp_path / "restored" / "files").exists()


def test_a_backup_of_a_site_on_a_bucket_restores_onto_a_folder(
    s3_endpoint, s3, labvault_make_app, labvault_make_user, labvault_settings, tmp_path
):
    strategies = {
        "nightly": {
            "target": {"type": "local", "path": str(tmp_path / "backups")},
            "frequency": "1d",
            "retention": 2,
        }
    }
    bucket = {"type": "s3", **store_options(s3_endpoint, prefix="live")}
    site = {
        **labvault_settings,
        "PLUGINS": ["files_s3"],
        "FILE_STORE": bucket,
        "BACKUP_STRATEGIES": strategies,
    }
    app = labvault_make_app(**site)
    admin = labvault_make_user(app, role="admin")
    contents = [b"a spectrum", os.urandom(PART + 3)]
    stored = upload_all(app, admin, contents)
    snapshot = run_backup(app.test_client(), admin.headers, "nightly")["last_report"]["snapshot"]
    restored_site = {
        "IDENTIFIER_PREFIX": "test",
        "SECRET_KEY": labvault_settings["SECRET_KEY"],
        "INSTANCE_PATH": str(tmp_path / "restored"),
        "FILE_DIRECTORY": str(tmp_path / "restored-files"),
        "BACKUP_STRATEGIES": strategies,
    }

    restored = labvault(
        restored_site, tmp_path / "restored", "backup", "restore", "--strategy", "nightly", snapshot
    )

    assert restored.returncode == 0, restored.stderr
    for file, data in zip(stored, contents, strict=True):
        sha256 = file["sha256"]
        path = tmp_path / "restored-files" / sha256[:2] / sha256[2:4] / sha256
        assert path.read_bytes() == data
