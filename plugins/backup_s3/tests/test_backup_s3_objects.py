"""What lands in the bucket: keys under the prefix, large contents in parts, nothing of a
put that failed (no object, no multipart upload left to pay for), and every key of a
listing longer than S3's page of 1000."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from backup_s3_peers import BUCKET, BreakingStream, MiB, Trickle, seed_objects
from botocore.exceptions import ReadTimeoutError
from labvault_backup_s3 import S3Bucket

MakeTarget = Callable[..., S3Bucket]
IN_PARTS = {"multipart_threshold": 5 * MiB, "multipart_chunksize": 5 * MiB}


def bucket_keys(s3: Any) -> list[str]:
    return [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def pending_uploads(s3: Any) -> list[str]:
    return [upload["Key"] for upload in s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])]


def test_keys_are_kept_under_the_prefix(make_s3_target: MakeTarget, s3: Any) -> None:
    target = make_s3_target(prefix="/labvault/site-a")

    target.put("snapshots/2026-11-30/manifest.json", io.BytesIO(b"{}"))

    assert bucket_keys(s3) == ["labvault/site-a/snapshots/2026-11-30/manifest.json"]
    assert list(target.list()) == ["snapshots/2026-11-30/manifest.json"]


def test_large_contents_go_up_in_parts_and_come_back_whole(
    make_s3_target: MakeTarget, s3: Any
) -> None:
    content = os.urandom(12 * MiB + 123)

    assert make_s3_target(**IN_PARTS).put("contents/ab/large", io.BytesIO(content)) == len(content)

    assert s3.head_object(Bucket=BUCKET, Key="contents/ab/large")["ETag"].endswith('-3"')
    with make_s3_target().get("contents/ab/large") as stream:
        assert stream.read() == content


def test_a_stream_giving_little_a_read_still_goes_up_whole(
    make_s3_target: MakeTarget, s3: Any
) -> None:
    """A pipe or a socket gives less than asked; parts must still be full (S3 refuses a
    part under 5 MiB that is not the last)."""
    content = os.urandom(11 * MiB)

    assert make_s3_target(**IN_PARTS).put("contents/cd/piped", Trickle(content)) == len(content)

    assert s3.head_object(Bucket=BUCKET, Key="contents/cd/piped")["ETag"].endswith('-3"')
    assert s3.get_object(Bucket=BUCKET, Key="contents/cd/piped")["Body"].read() == content


def test_a_multipart_put_that_breaks_leaves_nothing_behind(
    make_s3_target: MakeTarget, s3: Any
) -> None:
    target = make_s3_target(**IN_PARTS)
    target.put("contents/ab/kept", io.BytesIO(b"the old object"))

    for key in ("contents/ab/kept", "contents/ab/new"):
        broken = BreakingStream(12 * MiB, OSError("the upload from the lab PC broke"))
        with pytest.raises(OSError, match="the upload from the lab PC broke"):
            target.put(key, broken)

    with target.get("contents/ab/kept") as stream:
        assert stream.read() == b"the old object"
    assert not target.exists("contents/ab/new")
    assert bucket_keys(s3) == ["contents/ab/kept"]
    assert pending_uploads(s3) == []  # aborted: no parts left in the bucket to pay for


@pytest.mark.parametrize("size", [100, 7 * MiB], ids=["in-one-request", "in-parts"])
@pytest.mark.parametrize(
    "error",
    [KeyError("cancelled"), ReadTimeoutError(endpoint_url="http://other-store")],
    ids=["own-error", "botocore-error-of-another-store"],
)
def test_the_streams_own_failure_passes_unchanged(
    make_s3_target: MakeTarget, s3: Any, size: int, error: Exception
) -> None:
    """Even a botocore error, from a stream read off another store, is the stream's
    failure and not this target's."""
    target = make_s3_target(**IN_PARTS)

    with pytest.raises(type(error)) as raised:
        target.put("contents/ef/streamed", BreakingStream(size, error))

    assert raised.value is error
    assert bucket_keys(s3) == [] and pending_uploads(s3) == []


def test_a_listing_longer_than_a_page_is_whole_sorted_and_stays_in_the_prefix(
    make_s3_target: MakeTarget, s3: Any
) -> None:
    ours = [f"contents/{number % 97:02x}/{number:06d}" for number in range(2500)]
    neighbours = ["labvault-old/contents/00/000001", "contents/00/000002", "labvaultz"]
    seed_objects(BUCKET, [f"labvault/{key}" for key in [*ours, "../../escape"]] + neighbours)
    target = make_s3_target(prefix="labvault")

    assert list(target.list()) == sorted(ours)  # not "../../escape": no backup key
    assert list(target.list("contents/0")) == sorted(k for k in ours if k.startswith("contents/0"))
    assert list(target.list("contents/00/00000")) == ["contents/00/000000"]


def test_threads_share_one_target(make_s3_target: MakeTarget) -> None:
    target = make_s3_target()

    def round_trip(number: int) -> tuple[int, bytes]:
        target.put(f"contents/{number:02x}/object", io.BytesIO(b"%d" % number))
        with target.get(f"contents/{number:02x}/object") as stream:
            return id(target.client()), stream.read()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(round_trip, range(16)))

    assert len({client for client, _ in results}) == 1  # made once, by one of them
    assert [content for _, content in results] == [b"%d" % number for number in range(16)]
