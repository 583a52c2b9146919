"""The options of an S3 file store (``FILE_STORE = {"type": "s3", "bucket": ...}``): those
of an S3 backup target (credentials, endpoint, encryption, timeouts), the size of an
upload's parts, and whether downloads may go straight to the store."""

from __future__ import annotations

import marshmallow as ma
from labvault_backup_s3.options import PART_MAX, PART_MIN, S3Options
from marshmallow import fields, validate

MiB = 1 << 20


class S3FileStoreOptions(S3Options):
    """What a deployer sets for an S3 file store."""

    class Meta:
        unknown = ma.RAISE
        # an upload is sent in parts of multipart_chunksize as it arrives: no threshold
        exclude = ("multipart_threshold",)

    multipart_chunksize = fields.Integer(
        load_default=8 * MiB,
        validate=validate.Range(
            min=PART_MIN, max=PART_MAX, error="must be between 5 MiB and 5 GiB, in bytes"
        ),
        metadata={
            "description": "bytes of each part of an upload, held in memory while it is sent "
            "(a file has at most 10,000 parts)"
        },
    )
    redirect_downloads = fields.Boolean(
        load_default=False,
        metadata={
            "description": "answer a download with a redirect to a presigned URL of the "
            "store (clients must reach the store)"
        },
    )
    redirect_seconds = fields.Integer(
        load_default=60,
        validate=validate.Range(min=1, max=3600),
        metadata={"description": "how long such a URL works"},
    )
