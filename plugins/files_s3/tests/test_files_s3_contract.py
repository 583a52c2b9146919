"""The file store contract every type keeps, kept by a bucket of moto's S3 server: at the
top of the bucket, and in a folder of a bucket that holds other things too."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from files_s3_peers import BUCKET
from labvault.testing import FileStoreContract
from labvault_files_s3 import S3FileStore


class TestS3FileStore(FileStoreContract):
    @pytest.fixture
    def file_store(self, make_s3_store: Callable[..., S3FileStore]) -> S3FileStore:
        return make_s3_store()


class TestS3FileStoreUnderAPrefix(FileStoreContract):
    @pytest.fixture
    def file_store(self, make_s3_store: Callable[..., S3FileStore], s3: Any) -> S3FileStore:
        # beside the store's folder, and a console's folder marker: neither is content
        s3.put_object(Bucket=BUCKET, Key="labvault-old/ab/cd/" + "ab" * 32, Body=b"not ours")
        s3.put_object(Bucket=BUCKET, Key="labvault/site-a/", Body=b"")
        return make_s3_store(prefix="labvault/site-a")
