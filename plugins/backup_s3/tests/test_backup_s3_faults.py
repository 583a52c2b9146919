"""A store that is away, silent, lacks the bucket or refuses the credentials: every call
ends within its timeouts with Unavailable, naming the target and what it was doing,
without botocore's traceback."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from backup_s3_peers import IamUsers, cutting_server, silent_server
from labvault.plugin import Unavailable
from labvault.testing import free_port, unavailable_within
from labvault_backup_s3 import S3Bucket

MakeTarget = Callable[..., S3Bucket]
KEY = "contents/ab/abcdef"
QUICK = {"connect_timeout": 1, "read_timeout": 1, "max_attempts": 1}

#: Every call of a target, and how its failure says what it was doing.
CALLS: dict[str, tuple[Callable[[S3Bucket], Any], str]] = {
    "put": (lambda target: target.put(KEY, io.BytesIO(b"content")), f"cannot write {KEY}"),
    "get": (lambda target: target.get(KEY).read(), f"cannot read {KEY}"),
    "exists": (lambda target: target.exists(KEY), f"cannot look for {KEY}"),
    "list": (lambda target: list(target.list("contents/")), "cannot list contents/"),
    "delete": (lambda target: target.delete(KEY), f"cannot delete {KEY}"),
}


#: A call that cannot reach the store gives up well before boto3's defaults (60 s reads,
#: retries): within this, however busy the machine (0.3 s timeouts took 2.2 s in CI).
BOUND = 6.0


@contextmanager
def unavailable(bound: float = BOUND) -> Iterator[pytest.ExceptionInfo[Unavailable]]:
    """Unavailable within ``bound``, saying why without botocore's traceback."""
    with unavailable_within(bound, unchained=True) as raised:
        yield raised


@pytest.mark.parametrize("call", CALLS)
def test_a_store_that_is_away(make_s3_target: MakeTarget, call: str) -> None:
    action, doing = CALLS[call]
    target = make_s3_target(endpoint_url=f"http://127.0.0.1:{free_port()}", **QUICK)

    with unavailable() as raised:
        action(target)

    message = str(raised.value)
    assert message.startswith(f"backup target offsite: {doing} (bucket lab-backups): ")
    assert "Could not connect to the endpoint URL" in message


def test_a_store_that_does_not_answer(make_s3_target: MakeTarget) -> None:
    with silent_server() as url:
        target = make_s3_target(endpoint_url=url, read_timeout=0.3, max_attempts=1)

        with unavailable() as raised:
            target.put(KEY, io.BytesIO(b"content"))

    assert f"cannot write {KEY}" in str(raised.value)
    assert "Read timeout on endpoint URL" in str(raised.value)


def read_in_chunks(stream: Any) -> None:
    while stream.read(64 * 1024):
        pass


@pytest.mark.parametrize(
    "read", [lambda stream: stream.read(), read_in_chunks], ids=["whole", "in-chunks"]
)
def test_a_download_cut_off_half_way(
    make_s3_target: MakeTarget, read: Callable[[Any], Any]
) -> None:
    with cutting_server(sent=300_000) as url:
        target = make_s3_target(endpoint_url=url, **QUICK)

        with unavailable() as raised, target.get(KEY) as stream:
            read(stream)

    assert str(raised.value).startswith(f"backup target offsite: cannot read {KEY} (bucket ")


def attempts(target: S3Bucket) -> int:
    """How many requests ``target.exists`` sends before it gives up."""
    sent: list[str] = []
    target.client().meta.events.register(
        "before-send.s3", lambda request, **_: sent.append(request.method)
    )
    with unavailable():
        target.exists(KEY)
    return len(sent)


def test_max_attempts_tries_again(make_s3_target: MakeTarget) -> None:
    with silent_server() as url:
        once = make_s3_target(endpoint_url=url, read_timeout=0.2, max_attempts=1)
        twice = make_s3_target(endpoint_url=url, read_timeout=0.2, max_attempts=2)

        assert (attempts(once), attempts(twice)) == (1, 2)


@pytest.mark.parametrize("call", CALLS)
def test_a_missing_bucket(make_s3_target: MakeTarget, call: str) -> None:
    action, doing = CALLS[call]

    with unavailable() as raised:  # for get, not NotFound: the key is not the fault
        action(make_s3_target(bucket="lab-backupz"))

    assert str(raised.value).startswith(f"backup target offsite: {doing} (bucket lab-backupz): ")
    assert "NoSuchBucket" in str(raised.value)


def test_no_credentials_anywhere(
    make_s3_target: MakeTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    with unavailable() as raised:
        make_s3_target().put(KEY, io.BytesIO(b"content"))

    assert str(raised.value) == (
        f"backup target offsite: cannot write {KEY} (bucket lab-backups): "
        "Unable to locate credentials"
    )


@pytest.mark.parametrize(
    ("keys", "answer", "hint"),
    [
        (
            lambda users: ("AKIDNOSUCHKEY0000000", "secret"),
            "InvalidAccessKeyId",
            "(check the credentials)",
        ),
        (
            lambda users: (users.allowed[0], "not-the-secret"),
            "SignatureDoesNotMatch",
            "(check the secret access key)",
        ),
        (
            lambda users: users.denied,
            "AccessDenied",
            "(the credentials need the permissions the plugin's README lists)",
        ),
    ],
    ids=["unknown-key", "wrong-secret", "no-permission"],
)
def test_credentials_the_store_refuses(
    make_s3_target: MakeTarget,
    iam_users: IamUsers,
    keys: Callable[[IamUsers], tuple[str, str]],
    answer: str,
    hint: str,
) -> None:
    key_id, secret = keys(iam_users)
    # the store answers here: one attempt, but time for moto's IAM check on a busy machine
    # (a 1 s read timeout ran out once in a full run, before the 403 came)
    answers = {**QUICK, "read_timeout": 10}
    target = make_s3_target(access_key_id=key_id, secret_access_key=secret, **answers)

    with unavailable() as raised:
        target.put(KEY, io.BytesIO(b"content"))
    assert f"cannot write {KEY} (bucket lab-backups): {answer}: " in str(raised.value)
    assert str(raised.value).endswith(hint)

    # HEAD answers carry no error code: S3 gives the bare status
    with unavailable() as raised:
        target.exists(KEY)
    assert f"cannot look for {KEY} (bucket lab-backups): 403 Forbidden" in str(raised.value)
