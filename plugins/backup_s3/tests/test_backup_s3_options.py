"""The options of an S3 target, checked with the rest of the config at startup: what a
deployer may leave out, and every combination refused with a message saying why."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from typing import Any

import marshmallow as ma
import pytest
from labvault.plugin import ConfigError
from labvault_backup_s3 import S3Bucket, S3Options, labvault_backup_target_types

MiB = 1 << 20


def problems(**options: Any) -> dict[str, Any]:
    with pytest.raises(ma.ValidationError) as raised:
        S3Options().load(options)
    assert isinstance(raised.value.messages, dict)
    return raised.value.messages


def test_a_bucket_is_all_it_needs() -> None:
    options = S3Options().load({"bucket": "lab-backups"})

    assert options["prefix"] == ""
    assert options["multipart_threshold"] == options["multipart_chunksize"] == 64 * MiB
    assert (options["connect_timeout"], options["read_timeout"]) == (10.0, 60.0)
    assert options["max_attempts"] == 3 and options["addressing_style"] == "auto"
    for unset in ("region", "endpoint_url", "profile", "access_key_id", "storage_class"):
        assert options[unset] is None


def test_the_bucket_is_required() -> None:
    assert problems() == {"bucket": ["Missing data for required field."]}


@pytest.mark.parametrize(
    ("given", "kept"),
    [("labvault", "labvault/"), ("labvault/", "labvault/"), ("/site-a/x/", "site-a/x/"), ("", "")],
)
def test_the_prefix_is_a_folder(given: str, kept: str) -> None:
    assert S3Options().load({"bucket": "b-1", "prefix": given})["prefix"] == kept


@pytest.mark.parametrize(
    ("options", "field", "message"),
    [
        ({"bucket": "lab-backups/labvault"}, "bucket", "put a folder into prefix"),
        ({"bucket": "x"}, "bucket", "not a bucket name"),
        ({"prefix": "a//b"}, "prefix", "separated by '/'"),
        ({"prefix": "backups/../other"}, "prefix", "separated by '/'"),
        ({"access_key_id": "AKID"}, "secret_access_key", "give access_key_id and secret_"),
        ({"secret_access_key": "s"}, "access_key_id", "give access_key_id and secret_"),
        (
            {"profile": "lab", "access_key_id": "AKID", "secret_access_key": "s"},
            "profile",
            "either a profile or access_key_id and secret_access_key",
        ),
        ({"kms_key_id": "alias/lab"}, "kms_key_id", 'only with server_side_encryption: "aws:kms"'),
        (
            {"server_side_encryption": "AES256", "kms_key_id": "k"},
            "kms_key_id",
            "only with server_side_encryption",
        ),
        ({"server_side_encryption": "aws:kms:dsse"}, "server_side_encryption", "Must be one of"),
        ({"storage_class": "COLD"}, "storage_class", "must be one of: STANDARD, STANDARD_IA"),
        ({"storage_class": "GLACIER"}, "storage_class", "neither verified nor restored"),
        ({"storage_class": "DEEP_ARCHIVE"}, "storage_class", "use GLACIER_IR"),
        ({"multipart_chunksize": 1 * MiB}, "multipart_chunksize", "between 5 MiB and 5 GiB"),
        ({"multipart_threshold": 4 * MiB}, "multipart_threshold", "between 5 MiB and 5 GiB"),
        ({"endpoint_url": "minio.lab:9000"}, "endpoint_url", "must be an http(s) URL"),
        ({"addressing_style": "dns"}, "addressing_style", "Must be one of"),
        ({"connect_timeout": 0}, "connect_timeout", "greater than 0"),
        ({"max_attempts": 0}, "max_attempts", "greater than or equal to 1"),
        ({"colour": "blue"}, "colour", "Unknown field."),
    ],
)
def test_bad_options_are_refused_saying_why(
    options: dict[str, Any], field: str, message: str
) -> None:
    found = problems(**{"bucket": "lab-backups", **options})

    assert list(found) == [field]
    assert message in " ".join(found[field])


def test_keys_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_S3_KEY_ID", "AKIDFROMENV")
    monkeypatch.setenv("LAB_S3_SECRET", "secret-from-env")

    options = S3Options().load(
        {
            "bucket": "lab-backups",
            "access_key_id": {"env": "LAB_S3_KEY_ID"},
            "secret_access_key": {"env": "LAB_S3_SECRET"},
        }
    )

    assert (options["access_key_id"], options["secret_access_key"]) == (
        "AKIDFROMENV",
        "secret-from-env",
    )
    assert "secret-from-env" not in repr(options)


def test_an_unset_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAB_S3_SECRET", raising=False)

    found = problems(
        bucket="lab-backups", access_key_id="AKID", secret_access_key={"env": "LAB_S3_SECRET"}
    )

    assert found == {"secret_access_key": ["the environment variable LAB_S3_SECRET is not set"]}


def test_every_option_is_described() -> None:
    for name, field in S3Options().fields.items():
        assert field.metadata.get("description"), name


def test_the_plugin_is_found_by_its_entry_point_and_gives_the_s3_type() -> None:
    (entry,) = importlib.metadata.entry_points(group="labvault.plugins", name="backup_s3")

    assert entry.value == "labvault_backup_s3"
    assert labvault_backup_target_types() == [S3Bucket]
    assert S3Bucket.name == "s3" and S3Bucket.OptionsSchema is S3Options


def strategy(**target: Any) -> dict[str, Any]:
    return {"offsite": {"target": {"type": "s3", **target}, "frequency": "1d", "retention": 14}}


def test_the_core_starts_with_a_strategy_keeping_backups_in_s3(
    labvault_make_app: Callable[..., Any],
) -> None:
    app = labvault_make_app(
        PLUGINS=["backup_s3"], BACKUP_STRATEGIES=strategy(bucket="lab-backups", prefix="lv")
    )

    response = app.test_client().get("/info")

    assert response.status_code == 200
    assert "backup_s3" in response.get_data(as_text=True)


def test_the_core_reports_bad_options_by_key_path(labvault_make_app: Callable[..., Any]) -> None:
    with pytest.raises(ConfigError) as raised:
        labvault_make_app(
            PLUGINS=["backup_s3"],
            BACKUP_STRATEGIES=strategy(storage_class="DEEP_ARCHIVE", access_key_id="AKID"),
        )

    found = "\n".join(raised.value.problems)
    target = "BACKUP_STRATEGIES.offsite.target"
    assert f"{target}.bucket: Missing data for required field." in found
    assert f"{target}.storage_class: DEEP_ARCHIVE objects must be restored" in found
    assert f"{target}.secret_access_key: give access_key_id and secret_access_key" in found
