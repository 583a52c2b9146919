"""Fixtures: moto's S3 server on 127.0.0.1 (one per test process), an empty bucket for
each test, and S3 file stores writing to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from files_s3_peers import BUCKET, store_options
from labvault_backup_s3.testing import (
    isolate_aws_environment,
    reset,
    s3_client,
    s3_server,
)
from labvault_files_s3 import S3FileStore


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The URL of moto's S3 server, started for this test process."""
    from moto.server import ThreadedMotoServer

    with s3_server(ThreadedMotoServer) as endpoint:
        yield endpoint


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """boto3 finds test keys in the environment and nothing of the developer's own."""
    isolate_aws_environment(monkeypatch, tmp_path)


@pytest.fixture
def s3(s3_endpoint: str) -> Any:
    """A plain boto3 client, to look at the bucket behind the store's back; the moto
    server holds nothing but an empty bucket when the test starts."""
    reset(s3_endpoint)
    client = s3_client(s3_endpoint)
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def make_s3_store(s3_endpoint: str, s3: Any) -> Callable[..., S3FileStore]:
    """Factory: ``make_s3_store(**options)`` -> a store of the test bucket, with the
    options validated as the core validates a deployer's."""

    def make(**overrides: Any) -> S3FileStore:
        options = S3FileStore.OptionsSchema().load(store_options(s3_endpoint, **overrides))
        return S3FileStore("default", options, None)  # type: ignore[arg-type, unused-ignore]

    return make
