"""What the options do at the store: storage class and encryption of every object, and
the credentials requests are signed with (moto checking them as S3 does)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from backup_s3_peers import BUCKET, IamUsers, MiB
from labvault.plugin import Unavailable
from labvault_backup_s3 import S3Bucket

MakeTarget = Callable[..., S3Bucket]
IN_PARTS = {"multipart_threshold": 5 * MiB, "multipart_chunksize": 5 * MiB}


def round_trip(target: S3Bucket) -> bytes:
    target.put("snapshots/one/manifest.json", io.BytesIO(b'{"items": 3}'))
    with target.get("snapshots/one/manifest.json") as stream:
        return stream.read()


@pytest.mark.parametrize("size", [1000, 6 * MiB], ids=["in-one-request", "in-parts"])
def test_storage_class_and_encryption_reach_every_object(
    make_s3_target: MakeTarget, s3: Any, size: int
) -> None:
    plain = make_s3_target(**IN_PARTS)
    cheap = make_s3_target(storage_class="STANDARD_IA", server_side_encryption="AES256", **IN_PARTS)
    kms = make_s3_target(
        storage_class="GLACIER_IR",
        server_side_encryption="aws:kms",
        kms_key_id="alias/labvault-backups",
        **IN_PARTS,
    )

    for key, target in (("plain", plain), ("cheap", cheap), ("kms", kms)):
        target.put(key, io.BytesIO(b"x" * size))

    heads = {key: s3.head_object(Bucket=BUCKET, Key=key) for key in ("plain", "cheap", "kms")}
    assert heads["plain"].get("StorageClass", "STANDARD") == "STANDARD"
    assert "SSEKMSKeyId" not in heads["plain"]
    assert heads["cheap"]["StorageClass"] == "STANDARD_IA"
    assert heads["cheap"]["ServerSideEncryption"] == "AES256"
    assert heads["kms"]["StorageClass"] == "GLACIER_IR"
    assert heads["kms"]["ServerSideEncryption"] == "aws:kms"
    assert heads["kms"]["SSEKMSKeyId"].endswith("alias/labvault-backups")


def test_explicit_keys_from_the_environment_sign_the_requests(
    make_s3_target: MakeTarget, iam_users: IamUsers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAB_S3_KEY_ID", iam_users.allowed[0])
    monkeypatch.setenv("LAB_S3_SECRET", iam_users.allowed[1])

    target = make_s3_target(
        access_key_id={"env": "LAB_S3_KEY_ID"}, secret_access_key={"env": "LAB_S3_SECRET"}
    )

    assert round_trip(target) == b'{"items": 3}'
    # the environment's own keys (boto3's default chain) are not those of an IAM user
    with pytest.raises(Unavailable, match="InvalidAccessKeyId"):
        round_trip(make_s3_target())


def test_the_default_chain_reads_the_environment(
    make_s3_target: MakeTarget, iam_users: IamUsers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", iam_users.allowed[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", iam_users.allowed[1])

    assert round_trip(make_s3_target()) == b'{"items": 3}'


def test_a_profile_of_the_aws_files_gives_keys_and_region(
    make_s3_target: MakeTarget,
    iam_users: IamUsers,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    credentials, config = tmp_path / "credentials", tmp_path / "config"
    key_id, secret = iam_users.allowed
    credentials.write_text(
        f"[lab-backup]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"
    )
    config.write_text("[profile lab-backup]\nregion = eu-central-1\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))

    target = make_s3_target(profile="lab-backup", region=None)

    assert round_trip(target) == b'{"items": 3}'
    assert target.client().meta.region_name == "eu-central-1"


def test_a_missing_profile_is_reported_at_first_use(make_s3_target: MakeTarget) -> None:
    target = make_s3_target(profile="lab-backup")

    with pytest.raises(Unavailable) as raised:
        target.exists("snapshots/one/manifest.json")

    assert str(raised.value) == (
        "backup target offsite: cannot connect (bucket lab-backups): "
        "The config profile (lab-backup) could not be found"
    )
