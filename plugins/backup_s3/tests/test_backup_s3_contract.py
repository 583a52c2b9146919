"""The backup target contract every type keeps, kept by a bucket of moto's S3 server: at
the top of the bucket, and in a folder of a bucket that holds other things too."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from labvault.testing import BackupTargetContract
from labvault_backup_s3 import S3Bucket


class TestS3Contract(BackupTargetContract):
    @pytest.fixture
    def backup_target(self, make_s3_target: Callable[..., S3Bucket]) -> S3Bucket:
        return make_s3_target()


class TestS3ContractUnderAPrefix(BackupTargetContract):
    @pytest.fixture
    def backup_target(self, make_s3_target: Callable[..., S3Bucket], s3: Any) -> S3Bucket:
        # beside the target's folder, and the marker an S3 console makes for a folder:
        # neither is one of the target's keys, so the contract's listings must not show them
        s3.put_object(Bucket="lab-backups", Key="labvault-old/kept", Body=b"not ours")
        s3.put_object(Bucket="lab-backups", Key="labvault/site-a/", Body=b"")
        return make_s3_target(prefix="labvault/site-a")
