"""The options of an S3 backup target (``{"target": {"type": "s3", "bucket": ...}}``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import marshmallow as ma
from labvault.plugin import BACKUP_KEY_PATTERN, Secret
from marshmallow import fields, validate

MiB = 1 << 20
#: S3's smallest part (every part of a multipart upload but the last) and largest one.
PART_MIN, PART_MAX = 5 * MiB, 5 * 1024 * MiB

#: Storage classes an object can be written in and read back from at once.
STORAGE_CLASSES = (
    "STANDARD",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER_IR",
    "REDUCED_REDUNDANCY",
    "EXPRESS_ONEZONE",
    "OUTPOSTS",
)
#: Archive classes: an object needs a restore request (hours) before it can be read, so
#: the core could neither verify nor restore a backup kept in one.
ARCHIVE_CLASSES = ("GLACIER", "DEEP_ARCHIVE")

_SECONDS = validate.Range(min=0, min_inclusive=False, max=3600)
_PART = validate.Range(
    min=PART_MIN, max=PART_MAX, error="must be between 5 MiB and 5 GiB (S3's part sizes), in bytes"
)
_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]$")


def _bucket(name: str) -> None:
    if "/" in name:
        raise ma.ValidationError("the bucket's name only; put a folder into prefix")
    if not _BUCKET.match(name):
        raise ma.ValidationError("not a bucket name (3-255 letters, digits, '.', '_' or '-')")


def _storage_class(name: str) -> None:
    if name in ARCHIVE_CLASSES:
        raise ma.ValidationError(
            f"{name} objects must be restored before they can be read, so backups could "
            "be neither verified nor restored; use GLACIER_IR, or a lifecycle rule of the "
            "bucket to move old objects"
        )
    if name not in STORAGE_CLASSES:
        raise ma.ValidationError(f"must be one of: {', '.join(STORAGE_CLASSES)}")


class S3Options(ma.Schema):
    """What a deployer sets for an S3 backup target."""

    class Meta:
        unknown = ma.RAISE

    bucket = fields.String(
        required=True, validate=_bucket, metadata={"description": "the bucket backups go to"}
    )
    prefix = fields.String(
        load_default="",
        metadata={"description": "a folder in the bucket, e.g. labvault/ ('': the whole bucket)"},
    )
    region = fields.String(
        load_default=None,
        validate=validate.Length(min=1),
        metadata={
            "description": "e.g. eu-central-1 (default: boto3's, from AWS_REGION or ~/.aws/config)"
        },
    )
    endpoint_url = fields.String(
        load_default=None,
        validate=validate.Regexp(
            r"^https?://[^\s/?#]+(/[^\s?#]*)?$", error="must be an http(s) URL"
        ),
        metadata={"description": "URL of an S3-compatible store (MinIO, Ceph, ...); default AWS"},
    )
    profile = fields.String(
        load_default=None,
        validate=validate.Length(min=1),
        metadata={"description": "a profile of ~/.aws/config and ~/.aws/credentials"},
    )
    access_key_id = Secret(
        load_default=None, metadata={"description": 'access key, or {"env": "NAME"}'}
    )
    secret_access_key = Secret(
        load_default=None, metadata={"description": 'secret of access_key_id, or {"env": "NAME"}'}
    )
    storage_class = fields.String(
        load_default=None,
        validate=_storage_class,
        metadata={"description": "S3 storage class of new objects, e.g. STANDARD_IA, GLACIER_IR"},
    )
    server_side_encryption = fields.String(
        load_default=None,
        validate=validate.OneOf(["AES256", "aws:kms"]),
        metadata={"description": "AES256 (keys S3 manages) or aws:kms"},
    )
    kms_key_id = fields.String(
        load_default=None,
        validate=validate.Length(min=1),
        metadata={"description": "KMS key (id, ARN or alias) for aws:kms; default the bucket's"},
    )
    multipart_threshold = fields.Integer(
        load_default=64 * MiB,
        validate=_PART,
        metadata={"description": "bytes from which an object is uploaded in parts"},
    )
    multipart_chunksize = fields.Integer(
        load_default=64 * MiB,
        validate=_PART,
        metadata={"description": "bytes of each part (an object has at most 10,000 parts)"},
    )
    connect_timeout = fields.Float(
        load_default=10.0,
        validate=_SECONDS,
        metadata={"description": "seconds to wait for a connection"},
    )
    read_timeout = fields.Float(
        load_default=60.0,
        validate=_SECONDS,
        metadata={"description": "seconds to wait for an answer (or the next bytes of one)"},
    )
    max_attempts = fields.Integer(
        load_default=3,
        validate=validate.Range(min=1, max=20),
        metadata={"description": "attempts of each request, the first included (1: no retry)"},
    )
    addressing_style = fields.String(
        load_default="auto",
        validate=validate.OneOf(["auto", "path", "virtual"]),
        metadata={"description": "bucket in the path or the host name; MinIO usually needs path"},
    )

    @ma.validates_schema(skip_on_field_errors=False, pass_original=True)
    def _check_combinations(self, data: Any, original: Any, **_: Any) -> None:
        # what the deployer wrote, so that a key whose variable is unset is not "missing"
        if not isinstance(original, Mapping):
            return  # marshmallow reports the input itself
        given = {name for name, value in original.items() if value is not None}
        problems: dict[str, list[str]] = {}
        keys = {"access_key_id", "secret_access_key"} & given
        if len(keys) == 1:
            missing = ({"access_key_id", "secret_access_key"} - keys).pop()
            problems[missing] = ["give access_key_id and secret_access_key together"]
        if "profile" in given and keys:
            problems["profile"] = ["give either a profile or access_key_id and secret_access_key"]
        if "kms_key_id" in given and original.get("server_side_encryption") != "aws:kms":
            problems["kms_key_id"] = ['only with server_side_encryption: "aws:kms"']
        if problems:
            raise ma.ValidationError(problems)

    @ma.post_load
    def _normalise_prefix(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        folder = data["prefix"].strip("/")
        if folder and not re.match(BACKUP_KEY_PATTERN, folder):
            raise ma.ValidationError(
                "names of letters, digits, '.', '_' and '-' separated by '/'", "prefix"
            )
        data["prefix"] = f"{folder}/" if folder else ""
        return data
