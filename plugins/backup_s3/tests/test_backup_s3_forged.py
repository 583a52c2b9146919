"""A bucket's owner forges what the core reads back: `labvault backup verify` and
`restore` of a strategy in S3 refuse a manifest whose part names point outside their
temporary folder (an absolute path, ``..``), and a replayed snapshot of an encrypted
strategy (an old snapshot's objects copied under a newer id); nothing outside is
written, nothing of the repository is deleted."""

from __future__ import annotations

import json
import zlib
from typing import Any

import pytest
from backup_s3_peers import Site, target_options
from labvault.testing import run_backup

KEY = "an-offsite-backup-key-of-40-characters-x"


def settings(endpoint: str, bucket: str, **strategy: Any) -> dict[str, Any]:
    target = {"type": "s3", **target_options(endpoint, bucket, prefix="labvault")}
    offsite = {"target": target, "frequency": "1d", "retention": 2, **strategy}
    return {"PLUGINS": ["backup_s3"], "BACKUP_STRATEGIES": {"offsite": offsite}}


def back_up(app: Any, admin: Any) -> str:
    done = run_backup(app.test_client(), admin.headers, "offsite")
    assert done["last_error"] is None, done["last_error"]
    snapshot: str = done["last_report"]["snapshot"]
    return snapshot


def keys(s3: Any, bucket: str) -> dict[str, str]:
    """Every object of the bucket, by key, with its ETag."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {entry["Key"]: entry["ETag"] for page in pages for entry in page.get("Contents", [])}


@pytest.mark.parametrize("name", ["absolute", "../../../etc/cron.d/x"])
def test_a_manifest_naming_a_part_outside_is_refused(
    name, s3_endpoint, s3, bucket, labvault_make_app, labvault_make_user, tmp_path
):
    app = labvault_make_app(**settings(s3_endpoint, bucket))
    snapshot = back_up(app, labvault_make_user(app, role="admin"))
    outside = tmp_path / "etc"
    outside.mkdir()
    precious = outside / "passwd"
    precious.write_text("root:x:0:0\n")
    name = str(precious) if name == "absolute" else name
    key = f"labvault/snapshots/{snapshot}/manifest.json"
    manifest = json.loads(zlib.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
    manifest["parts"] = {name: {"sha256": "0" * 64, "size": 6}, **manifest["parts"]}
    s3.put_object(Bucket=bucket, Key=key, Body=zlib.compress(json.dumps(manifest).encode()))
    # the site's temporary folders are in tmp_path/site/tmp: ../../.. of one is tmp_path
    site = Site(tmp_path / "site", settings(s3_endpoint, bucket))

    for command in ("verify", "restore"):
        done = site.run("backup", command, "--strategy", "offsite", snapshot)
        output = done.stdout + done.stderr
        assert precious.read_text() == "root:x:0:0\n", "a forged part name truncated a file"
        assert sorted(outside.rglob("*")) == [precious]
        assert done.returncode == 1, output
        assert "damaged or forged snapshot: the manifest's part" in output, output
        assert sorted(site.temp.iterdir()) == []


def test_a_replayed_snapshot_is_refused_and_retention_deletes_nothing(
    s3_endpoint, s3, bucket, labvault_make_app, labvault_make_user, monkeypatch, tmp_path
):
    monkeypatch.setenv("OFFSITE_KEY", KEY)
    config = settings(s3_endpoint, bucket, encryption_key_env="OFFSITE_KEY")
    app = labvault_make_app(**config)
    admin = labvault_make_user(app, role="admin")
    first, second = back_up(app, admin), back_up(app, admin)
    newer = "29991231T235959.999999Z"  # the bucket's owner replays the first as the newest
    for key in keys(s3, bucket):
        if key.startswith(f"labvault/snapshots/{first}/"):
            copied = key.replace(first, newer)
            s3.copy_object(Bucket=bucket, Key=copied, CopySource={"Bucket": bucket, "Key": key})
    before = keys(s3, bucket)
    site = Site(tmp_path / "site", config)

    verified = site.run("backup", "verify", "--strategy", "offsite")
    assert verified.returncode == 1, verified.stdout + verified.stderr
    assert f"offsite {newer}: damaged or forged snapshot" in verified.stdout
    assert verified.stdout.count("damaged or forged") == 1  # the true two verify
    restored = site.run("backup", "restore", "--strategy", "offsite", newer)
    assert restored.returncode == 1
    assert restored.stderr.startswith(f"error: damaged or forged snapshot: the manifest of {newer}")

    done = run_backup(app.test_client(), admin.headers, "offsite")  # retention 2
    assert done["last_error"].startswith(f"damaged or forged snapshot: the manifest of {newer}")
    after = keys(s3, bucket)
    assert {key: after.get(key) for key in before} == before, "retention deleted objects"
    # the listing shows the true ones and says what is wrong with the replayed one
    assert [s["snapshot"] for s in done["snapshots"][:2]] == [first, second]
    assert done["error"].startswith(f"damaged or forged snapshot: the manifest of {newer}")
    listed = site.run("backup", "list")
    assert listed.returncode == 1 and first in listed.stdout and newer not in listed.stdout
    assert listed.stderr.startswith(f"offsite: damaged or forged snapshot: the manifest of {newer}")
