"""The ``s3`` backup target: objects in a bucket of S3 or an S3-compatible store.

S3 itself makes a put all or nothing: an object appears only when its upload completes,
and replaces the old one at once. boto3's managed transfer uploads large contents in
parts and aborts the multipart upload when one fails, so no part is left to pay for.
"""

from __future__ import annotations

import io
import itertools
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, BinaryIO

# boto3, s3transfer and botocore's configuration (~170 ms) are imported by the target's
# first request, not when the plugin is enabled; botocore's exceptions alone cost little
from botocore.exceptions import BotoCoreError, ClientError
from labvault.plugin import (
    BACKUP_KEY_PATTERN,
    BackupTarget,
    Host,
    NotFound,
    PluginType,
    Unavailable,
    check_backup_key,
)

from labvault_backup_s3.options import S3Options

#: What boto3 raises when the store fails (unreachable, refused, timed out, no bucket).
STORE_ERRORS = (BotoCoreError, ClientError)
_VALID_KEY = re.compile(BACKUP_KEY_PATTERN)
_HINTS = {
    "InvalidAccessKeyId": "check the credentials",
    "SignatureDoesNotMatch": "check the secret access key",
    "AccessDenied": "the credentials need the permissions the plugin's README lists",
    "403": "the credentials need the permissions the plugin's README lists",
}


def describe(error: Exception) -> str:
    """One line about a boto3 failure, without its traceback."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = str(details.get("Code", "?"))
        message = str(details.get("Message") or "")
        # a HEAD answer has no body: its code is the bare HTTP status ("403 Forbidden")
        said = f"{code}{' ' if code.isdigit() else ': '}{message}" if message else code
        hint = _HINTS.get(code)
        return f"{said} ({hint})" if hint else said
    return str(error) or type(error).__name__


def new_client(options: Mapping[str, Any]) -> Any:
    """A boto3 S3 client for a deployer's options (:class:`S3Options`): their
    credentials, endpoint, timeouts, retries and addressing style."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=options["access_key_id"],
        aws_secret_access_key=options["secret_access_key"],
        region_name=options["region"],
        profile_name=options["profile"],
    )
    return session.client(
        "s3",
        endpoint_url=options["endpoint_url"],
        config=Config(
            signature_version="s3v4",
            connect_timeout=options["connect_timeout"],
            read_timeout=options["read_timeout"],
            retries={"total_max_attempts": options["max_attempts"], "mode": "standard"},
            s3={"addressing_style": options["addressing_style"]},
        ),
    )


class _Counted:
    """The stream being put, read in whole requests (s3transfer takes a short read for
    the end), counting the bytes and keeping the stream's own failure to tell it apart."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.size = 0
        self.error: BaseException | None = None

    def read(self, size: int | None = -1) -> bytes:
        chunks = []
        wanted = -1 if size is None or size < 0 else size
        while wanted != 0:
            try:
                chunk = self._stream.read(wanted)
            except BaseException as error:
                self.error = error
                raise
            if not chunk:
                break
            chunks.append(chunk)
            if wanted > 0:
                wanted -= len(chunk)
        data = b"".join(chunks)
        self.size += len(data)
        return data


class Download(io.RawIOBase):
    """An object's body as a stream whose store failures are Unavailable too."""

    def __init__(self, body: Any, failure: Callable[[Exception], Unavailable]) -> None:
        self._body = body
        self._failure = failure

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self._body.read(len(buffer))
        except STORE_ERRORS as error:
            raise self._failure(error) from None
        memoryview(buffer).cast("B")[: len(data)] = data
        return len(data)

    def readall(self) -> bytes:  # read() of everything: in one piece, not 8 KiB reads
        try:
            return bytes(self._body.read())
        except STORE_ERRORS as error:
            raise self._failure(error) from None

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


class BucketAccess(PluginType):
    """What a type kept in one bucket shares (this plugin's target, and other plugins'
    types of other kinds): the bucket of its options (:class:`S3Options`), the arguments
    new objects are written with (storage class, server-side encryption) and a client
    made at first use. A subclass says how a failure is reported (``_failure``)."""

    def __init__(self, instance_name: str, options: Mapping[str, Any], host: Host) -> None:
        super().__init__(instance_name, options, host)
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._transfer: Any = None
        extra = {
            "StorageClass": options["storage_class"],
            "ServerSideEncryption": options["server_side_encryption"],
            "SSEKMSKeyId": options["kms_key_id"],
        }
        #: The arguments every new object is written with.
        self.extra_args = {name: value for name, value in extra.items() if value is not None}

    @property
    def bucket(self) -> str:
        return str(self.options["bucket"])

    def _failure(self, doing: str, error: Exception) -> Unavailable:
        raise NotImplementedError

    def client(self) -> Any:
        """The boto3 S3 client of this instance, made at first use (boto3 clients may be
        shared by threads; making one may not)."""
        client = self._client
        if client is None:
            with self._client_lock:
                if self._client is None:
                    try:
                        self._client = new_client(self.options)
                    except STORE_ERRORS as error:
                        raise self._failure("connect", error) from None
                client = self._client
        return client


class S3Bucket(BucketAccess, BackupTarget):
    name = "s3"
    description = "A bucket of Amazon S3 or an S3-compatible store (MinIO, Ceph, ...)"
    OptionsSchema = S3Options

    def __init__(self, instance_name: str, options: Mapping[str, Any], host: Host) -> None:
        super().__init__(instance_name, options, host)
        self._bucket_seen = False

    def _transfer_config(self) -> Any:
        """boto3's managed transfer settings for this target's uploads (made once)."""
        if self._transfer is None:
            from boto3.s3.transfer import TransferConfig

            options = self.options
            transfer = TransferConfig(
                multipart_threshold=options["multipart_threshold"],
                multipart_chunksize=options["multipart_chunksize"],
                max_concurrency=4,
                preferred_transfer_client="classic",  # the CRT client would ignore these
            )
            # parts read ahead of the uploads: memory stays near 5 x multipart_chunksize
            transfer.max_in_memory_upload_chunks = 4
            self._transfer = transfer
        return self._transfer

    def _failure(self, doing: str, error: Exception) -> Unavailable:
        return Unavailable(
            f"backup target {self.instance_name}: cannot {doing} "
            f"(bucket {self.bucket}): {describe(error)}"
        )

    def _do(self, doing: str, action: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return action(*args, **kwargs)
        except STORE_ERRORS as error:
            raise self._failure(doing, error) from None

    def _key(self, key: str) -> str:
        return str(self.options["prefix"]) + check_backup_key(key)

    def put(self, key: str, stream: BinaryIO) -> int:
        counted = _Counted(stream)
        try:
            self.client().upload_fileobj(
                counted,
                self.bucket,
                self._key(key),
                ExtraArgs=self.extra_args,
                Config=self._transfer_config(),
            )
        except BaseException as error:
            # the stream's own failure passes as it is, even one of botocore's
            if error is counted.error or not isinstance(error, STORE_ERRORS):
                raise
            raise self._failure(f"write {key}", error) from None
        return counted.size

    def get(self, key: str) -> BinaryIO:
        try:
            response = self.client().get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "NoSuchKey":
                raise NotFound(f"backup target {self.instance_name} has no {key}") from None
            raise self._failure(f"read {key}", error) from None
        except BotoCoreError as error:
            raise self._failure(f"read {key}", error) from None
        download = Download(response["Body"], lambda error: self._failure(f"read {key}", error))
        return io.BufferedReader(download, 1 << 20)

    def exists(self, key: str) -> bool:
        try:
            self.client().head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as error:
            if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 404:
                raise self._failure(f"look for {key}", error) from None
        except BotoCoreError as error:
            raise self._failure(f"look for {key}", error) from None
        else:
            return True
        # HEAD answers a missing bucket with the same bodiless 404 as a missing key
        if not self._bucket_seen:
            self._check_bucket(f"look for {key}")
        return False

    def _check_bucket(self, doing: str) -> None:
        try:
            self.client().head_bucket(Bucket=self.bucket)
        except ClientError as error:
            if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                error.response["Error"] = {
                    "Code": "NoSuchBucket",
                    "Message": "The specified bucket does not exist",
                }
            raise self._failure(doing, error) from None
        except BotoCoreError as error:
            raise self._failure(doing, error) from None
        self._bucket_seen = True

    def list(self, prefix: str = "") -> Iterator[str]:
        pages = self._pages(prefix)
        first = next(pages, ())  # a missing bucket or a store out of reach shows here
        cut = len(self.options["prefix"])
        keys = (key[cut:] for page in itertools.chain([first], pages) for key in page)
        # leave out what cannot be a backup key, such as a console's folder marker "labvault/"
        return (key for key in keys if _VALID_KEY.match(key))

    def _pages(self, prefix: str) -> Iterator[tuple[str, ...]]:
        doing = f"list {prefix or 'keys'}"
        paginator = self.client().get_paginator("list_objects_v2")
        where = str(self.options["prefix"]) + prefix
        pages = iter(paginator.paginate(Bucket=self.bucket, Prefix=where))
        while True:
            try:
                page = next(pages)
            except StopIteration:
                return
            except STORE_ERRORS as error:
                raise self._failure(doing, error) from None
            yield tuple(item["Key"] for item in page.get("Contents", ()))

    def delete(self, key: str) -> None:
        # S3 answers a key with no object like any other: no error
        self._do(
            f"delete {key}", self.client().delete_object, Bucket=self.bucket, Key=self._key(key)
        )
