"""Test support for plugins that talk to S3 (this one, and those that depend on it),
with moto's S3 server on 127.0.0.1 (real HTTP, real SigV4 signing): :func:`s3_server`
starts it, :func:`reset` empties it, a plain client looks at a bucket, and in the
environment :func:`isolate_aws_environment` boto3 finds test keys and nothing of
the developer's own AWS setup."""

from __future__ import annotations

import contextlib
import logging
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REGION = "us-east-1"
#: What the tests' environment gives boto3's default credential chain; moto takes any
#: key unless IAM is enforced (then only a key of one of its IAM users).
DEFAULT_KEY_ID, DEFAULT_SECRET = "AKIDTESTINGDEFAULT", "testing-default-secret"

#: Every variable through which a developer's own AWS setup could leak into a test.
AWS_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_CA_BUNDLE",
    "AWS_MAX_ATTEMPTS",
    "AWS_RETRY_MODE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


@contextlib.contextmanager
def s3_server(server_class: Any) -> Iterator[str]:
    """The URL of moto's S3 server (``server_class``: ``moto.server.ThreadedMotoServer``,
    which the tests' conftest imports: moto is a test dependency) started in this
    process on 127.0.0.1, never every interface, on port 0 (a busy fixed port makes
    ``start()`` hang); stopped at the end."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = server_class(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        reset(f"http://{host}:{port}")
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def reset(endpoint: str) -> None:
    """Forget every bucket, object and IAM user of the moto server."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def s3_client(endpoint: str, key_id: str = DEFAULT_KEY_ID, secret: str = DEFAULT_SECRET) -> Any:
    """A plain boto3 client, to look at a bucket behind a plugin's back."""
    import boto3

    return boto3.session.Session(
        aws_access_key_id=key_id, aws_secret_access_key=secret, region_name=REGION
    ).client("s3", endpoint_url=endpoint)


def isolate_aws_environment(monkeypatch: Any, folder: Path) -> None:
    """boto3's default chain finds the test keys in the environment and nothing of the
    developer's own AWS setup (files, profile, instance metadata); ``folder`` is where
    its (absent) files would be."""
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DEFAULT_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DEFAULT_SECRET)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(folder / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(folder / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
