"""Fixtures: moto's S3 server on 127.0.0.1 (one per test process; real HTTP, real SigV4
signing), an empty bucket for each test, and S3 targets writing to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from backup_s3_peers import (
    BUCKET,
    IamUsers,
    make_iam_user,
    target_options,
)
from labvault_backup_s3 import S3Bucket
from labvault_backup_s3.testing import (
    isolate_aws_environment,
    reset,
    s3_client,
    s3_server,
)


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


@pytest.fixture(scope="session")
def s3_looking(s3_endpoint: str) -> Any:
    return s3_client(s3_endpoint)


@pytest.fixture
def s3(s3_endpoint: str, s3_looking: Any) -> Any:
    """A plain boto3 client, to look at the bucket behind the target's back; the moto
    server holds nothing but an empty bucket when the test starts."""
    reset(s3_endpoint)
    s3_looking.create_bucket(Bucket=BUCKET)
    return s3_looking


@pytest.fixture
def bucket(s3: Any) -> str:
    """The name of the test's empty bucket."""
    return BUCKET


@pytest.fixture
def make_s3_target(s3_endpoint: str, bucket: str) -> Callable[..., S3Bucket]:
    """Factory: ``make_s3_target(**options)`` -> the target "offsite" of the bucket, with
    the options validated as the core validates a deployer's."""

    def make(**overrides: Any) -> S3Bucket:
        options = S3Bucket.OptionsSchema().load(
            {**target_options(s3_endpoint, bucket), **overrides}
        )
        return S3Bucket("offsite", options, None)  # type: ignore[arg-type, unused-ignore]

    return make


@pytest.fixture
def iam_users(s3_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch) -> IamUsers:
    """Two IAM users, after which moto checks every request's credentials and
    permissions as S3 does (moto's INITIAL_NO_AUTH_ACTION_COUNT, in this process)."""
    from moto import settings

    users = IamUsers(
        allowed=make_iam_user(s3_endpoint, "backup", may_use_s3=True),
        denied=make_iam_user(s3_endpoint, "auditor", may_use_s3=False),
    )
    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    return users
