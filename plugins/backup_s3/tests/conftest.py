"""Fixtures: moto's S3 server on 127.0.0.1 (one per test process; real HTTP, real SigV4
signing), an empty bucket for each test, and S3 targets writing to it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from backup_s3_peers import (
    AWS_VARIABLES,
    BUCKET,
    DEFAULT_KEY_ID,
    DEFAULT_SECRET,
    IamUsers,
    make_iam_user,
    reset,
    s3_client,
    target_options,
)
from labvault_backup_s3 import S3Bucket


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The URL of moto's S3 server, started for this test process."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    try:
        from moto.server import ThreadedMotoServer

        # always loopback (the default is every interface); port 0, as a busy fixed
        # port makes start() hang
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        reset(f"http://{host}:{port}")
    except Exception as error:
        pytest.fail(
            f"cannot start moto's S3 server ({type(error).__name__}: {error}); "
            "pip install -e 'plugins/backup_s3[test]'",
            pytrace=False,
        )
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """boto3's default chain finds test keys in the environment and nothing of the
    developer's own AWS setup (files, profile, instance metadata)."""
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DEFAULT_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DEFAULT_SECRET)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


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
