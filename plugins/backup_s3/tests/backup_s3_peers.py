"""What the S3 tests talk to besides the target: moto's S3 server on 127.0.0.1 (real HTTP,
real SigV4), an IAM user of it, streams that break, and a server that never answers."""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from labvault_backup_s3.testing import (
    DEFAULT_KEY_ID,
    DEFAULT_SECRET,
    REGION,
)

MiB = 1 << 20
BUCKET = "lab-backups"


def target_options(endpoint: str, bucket: str = BUCKET, **overrides: Any) -> dict[str, Any]:
    """A deployer's options for a target in ``bucket`` of the moto server at ``endpoint``."""
    return {"bucket": bucket, "endpoint_url": endpoint, "region": REGION, **overrides}


class Site:
    """A deployment folder with its own config.py (``settings`` and an instance folder of
    its own), where ``run`` runs a labvault command as a deployer does; its temporary
    folders are kept in ``temp`` (TMPDIR)."""

    def __init__(self, root: Path, settings: dict[str, Any]) -> None:
        self.root = root
        self.temp = root / "tmp"
        self.temp.mkdir(parents=True)
        config = {
            "IDENTIFIER_PREFIX": "test",
            "SECRET_KEY": "a-secret-key-for-the-restored-site-0123456789",
            "INSTANCE_PATH": str(root / "instance"),
            **settings,
        }
        (root / "config.py").write_text("".join(f"{k} = {v!r}\n" for k, v in config.items()))

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "LABVAULT_CONFIG": str(self.root / "config.py")}
        done = subprocess.run(
            [str(Path(sys.executable).parent / "labvault"), *args],
            env={**env, "TMPDIR": str(self.temp)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "Traceback" not in done.stderr, done.stderr
        return done


def seed_objects(bucket: str, keys: list[str]) -> None:
    """Empty objects at ``keys``, put straight into the moto server's store in this
    process: a thousand PUTs over HTTP take five seconds. Reading them back goes over
    HTTP like everything else."""
    from moto.backends import get_backend
    from moto.core import DEFAULT_ACCOUNT_ID

    store = get_backend("s3")[DEFAULT_ACCOUNT_ID]["aws"]
    for key in keys:
        store.put_object(bucket, key, b"")


@dataclass(frozen=True)
class IamUsers:
    """Access key id and secret of an IAM user allowed everything on S3, and of one
    allowed nothing."""

    allowed: tuple[str, str]
    denied: tuple[str, str]


def make_iam_user(endpoint: str, name: str, may_use_s3: bool) -> tuple[str, str]:
    """An IAM user of the moto server (allowed everything on S3, or nothing): its access
    key id and secret, for tests that have moto check credentials."""
    iam = boto3.session.Session(
        aws_access_key_id=DEFAULT_KEY_ID,
        aws_secret_access_key=DEFAULT_SECRET,
        region_name=REGION,
    ).client("iam", endpoint_url=endpoint)
    iam.create_user(UserName=name)
    if may_use_s3:
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
        }
        iam.put_user_policy(UserName=name, PolicyName="s3", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


class BreakingStream(io.RawIOBase):
    """``good`` bytes, then ``error`` is raised: an upload from a client that died."""

    def __init__(self, good: int, error: BaseException) -> None:
        self._left = good
        self.error = error

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._left <= 0:
            raise self.error
        size = min(len(buffer), self._left)
        buffer[:size] = b"x" * size
        self._left -= size
        return size


class Trickle(io.RawIOBase):
    """``data`` a few bytes a read, as a pipe or a socket gives it."""

    def __init__(self, data: bytes, per_read: int = 64 * 1024) -> None:
        self._data = io.BytesIO(data)
        self._per_read = per_read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._data.read(min(len(buffer), self._per_read))
        buffer[: len(chunk)] = chunk
        return len(chunk)


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """The URL of a server that takes connections and never answers a request."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(64)  # the kernel completes the handshakes; nobody reads
        host, port = listening.getsockname()
        yield f"http://{host}:{port}"


@contextlib.contextmanager
def cutting_server(sent: int) -> Iterator[str]:
    """The URL of a server that answers every request with a 200 promising 1 MiB, sends
    ``sent`` bytes of it and hangs up: a connection lost in the middle of a download."""
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen(8)
    host, port = listening.getsockname()

    def serve() -> None:
        while True:
            try:
                connection, _ = listening.accept()
            except OSError:  # shut down
                return
            with connection:
                connection.settimeout(5)
                request = b""
                while b"\r\n\r\n" not in request and (chunk := connection.recv(65536)):
                    request += chunk
                head = b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n"
                connection.sendall(head + b"x" * sent)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{port}"
    finally:
        listening.shutdown(socket.SHUT_RDWR)
        listening.close()
        thread.join(5)
