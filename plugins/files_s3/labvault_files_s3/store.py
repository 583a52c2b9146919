"""The ``s3`` file store: the content of files in a bucket of S3 or an S3-compatible
store, under ``<prefix>ab/cd/<sha256>`` (the layout of the ``local`` store's folder, so
a folder copied into the bucket as it is is a store too).

An upload is hashed as it arrives. Small content (one part) goes up in one PUT under its
sha256 when it is complete. Larger content goes up in parts as it arrives, into a
multipart upload under ``<prefix>incoming/``: memory holds one part, the local disk
nothing. Once complete, and so hashed, it is copied within the bucket to its name and the
incoming object removed. S3 shows an object only once it is complete, so no reader ever
sees part of one; a failed upload is aborted, and :meth:`S3FileStore.sweep` aborts what a
killed server left.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import secrets
from collections.abc import Iterator
from typing import Any, BinaryIO

from botocore.exceptions import BotoCoreError, ClientError
from labvault.plugin import (
    ContentInfo,
    ContentMissing,
    ContentWriter,
    FileStore,
    SeekableRange,
    StoredContent,
    Unavailable,
    check_sha256,
)
from labvault_backup_s3.target import STORE_ERRORS, BucketAccess, Download, describe

from labvault_files_s3.options import S3FileStoreOptions

INCOMING = "incoming/"
_CONTENT_KEY = re.compile(r"([0-9a-f]{2})/([0-9a-f]{2})/(\1\2[0-9a-f]{60})")
#: What S3 answers when it is overloaded: the request may be retried later.
_BUSY = {"SlowDown", "ServiceUnavailable", "503", "RequestTimeout"}


class StoreBusy(Unavailable):
    """The store is overloaded or out of service for now (S3's SlowDown, 503): a kind
    of :class:`~labvault.plugin.Unavailable` that asks the client to try again later."""

    status = 503


class S3Writer(ContentWriter):
    """Content being uploaded: one part in memory, full parts sent as they fill."""

    def __init__(self, store: S3FileStore) -> None:
        self.store = store
        self.part_size: int = store.options["multipart_chunksize"]
        self._buffer = bytearray()
        self._hasher = hashlib.sha256()
        self._size = 0
        self._closed = False
        #: The incoming key and upload id once a first part was sent.
        self.key: str | None = None
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []

    def write(self, data: bytes) -> int:
        if self._closed:
            raise ValueError("write to a closed writer")
        self._hasher.update(data)
        self._size += len(data)
        self._buffer += data
        while len(self._buffer) >= self.part_size:
            self._send(bytes(self._buffer[: self.part_size]))
            del self._buffer[: self.part_size]
        return len(data)

    def _send(self, part: bytes) -> None:
        store = self.store
        if self.upload_id is None:
            self.key = f"{store.prefix}{INCOMING}{secrets.token_hex(16)}"
            started = store.call(
                "start an upload",
                "create_multipart_upload",
                Key=self.key,
                **store.extra_args,
            )
            self.upload_id = started["UploadId"]
        number = len(self.parts) + 1
        sent = store.call(
            "upload a part",
            "upload_part",
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=part,
        )
        self.parts.append({"ETag": sent["ETag"], "PartNumber": number})

    @property
    def size(self) -> int:
        return self._size

    @property
    def closed(self) -> bool:
        return self._closed

    def finish(self) -> tuple[str, bytes]:
        """The sha256, and the bytes not sent yet (the last part, or all of a small one)."""
        self._closed = True
        return self._hasher.hexdigest(), bytes(self._buffer)

    def discard(self) -> None:
        if self._closed and self.upload_id is None:
            return
        self._closed = True
        self._buffer = bytearray()
        if self.upload_id is not None:
            upload_id, self.upload_id = self.upload_id, None
            # what cannot be aborted now is swept later (its age shows it was abandoned)
            with contextlib.suppress(Unavailable):
                self.store.call(
                    "abort an upload", "abort_multipart_upload", Key=self.key, UploadId=upload_id
                )


class S3FileStore(BucketAccess, FileStore):
    name = "s3"
    description = "A bucket of Amazon S3 or an S3-compatible store (MinIO, Ceph, ...)"
    OptionsSchema = S3FileStoreOptions

    @property
    def prefix(self) -> str:
        return str(self.options["prefix"])

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _failure(self, doing: str, error: Exception) -> Unavailable:
        """A 503 for a store that is busy, a 502 for one that failed, naming the bucket."""
        message = f"file store {self.location}: cannot {doing}: {describe(error)}"
        if isinstance(error, ClientError):
            details = error.response.get("Error", {})
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if details.get("Code") in _BUSY or status == 503:
                return StoreBusy(f"{message} (try again later)")
        return Unavailable(message)

    def call(self, doing: str, operation: str, **arguments: Any) -> Any:
        """The answer of a client operation on the bucket; its failure as :meth:`failure`."""
        try:
            return getattr(self.client(), operation)(Bucket=self.bucket, **arguments)
        except STORE_ERRORS as error:
            raise self._failure(doing, error) from None

    def key_for(self, sha256: str) -> str:
        check_sha256(sha256)
        return f"{self.prefix}{sha256[:2]}/{sha256[2:4]}/{sha256}"

    # --- writing ---------------------------------------------------------------------

    def writer(self) -> S3Writer:
        return S3Writer(self)

    def keep(self, writer: ContentWriter) -> StoredContent:
        if not (isinstance(writer, S3Writer) and writer.store is self and not writer.closed):
            raise ValueError(f"{writer!r} is not an open writer of {self.location}")
        try:
            sha256, rest = writer.finish()
            key = self.key_for(sha256)
            if self.stat(sha256) is not None:
                self._copy(key, key, "store again")  # the collector's grace period restarts
            elif writer.upload_id is None:
                self.call("store", "put_object", Key=key, Body=rest, **self.extra_args)
            else:
                if rest:
                    writer._send(rest)
                self._complete(writer, key)
        finally:
            writer.discard()
        return StoredContent(sha256=sha256, size=writer.size)

    def _complete(self, writer: S3Writer, key: str) -> None:
        incoming = str(writer.key)
        self.call(
            "complete an upload",
            "complete_multipart_upload",
            Key=incoming,
            UploadId=writer.upload_id,
            MultipartUpload={"Parts": writer.parts},
        )
        writer.upload_id = None  # complete: nothing to abort
        try:
            self._copy(incoming, key, "store")
        finally:
            with contextlib.suppress(Unavailable):  # else swept later
                self.call("remove an upload", "delete_object", Key=incoming)

    def _copy(self, source: str, key: str, doing: str) -> None:
        """Copy within the bucket, in parts past 5 GiB (boto3's managed copy); a copy onto
        itself replaces the metadata, which is what makes S3 date it anew."""
        from boto3.s3.transfer import TransferConfig

        if self._transfer is None:
            size = self.options["multipart_chunksize"]
            self._transfer = TransferConfig(
                multipart_threshold=max(size, 64 << 20),
                multipart_chunksize=max(size, 64 << 20),
                max_concurrency=4,
                preferred_transfer_client="classic",
            )
        extra = dict(self.extra_args)
        if source == key:
            extra["MetadataDirective"] = "REPLACE"
        try:
            self.client().copy(
                {"Bucket": self.bucket, "Key": source},
                self.bucket,
                key,
                ExtraArgs=extra,
                Config=self._transfer,
            )
        except STORE_ERRORS as error:
            raise self._failure(doing, error) from None

    # --- reading ---------------------------------------------------------------------

    def stat(self, sha256: str) -> ContentInfo | None:
        try:
            head = self.client().head_object(Bucket=self.bucket, Key=self.key_for(sha256))
        except ClientError as error:
            if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return None
            raise self._failure(f"look for {sha256}", error) from None
        except BotoCoreError as error:
            raise self._failure(f"look for {sha256}", error) from None
        return ContentInfo(sha256, int(head["ContentLength"]), head["LastModified"].timestamp())

    def open(self, sha256: str, start: int = 0, end: int | None = None) -> BinaryIO:
        if start == 0 and end is None:
            info = self.stat(sha256)
            if info is None:
                raise self._missing(sha256)
            reader = SeekableRange(lambda first, stop: self._get(sha256, first, stop), info.size)
            return io.BufferedReader(reader, 1 << 20)
        return self._get(sha256, start, end)

    def _get(self, sha256: str, start: int, end: int | None) -> BinaryIO:
        """The bytes ``start`` to ``end`` (exclusive), as S3 sends them."""
        if end is not None and end <= start:
            return io.BytesIO(b"")
        wanted = f"bytes={start}-{'' if end is None else end - 1}"
        doing = f"read {sha256}"
        try:
            response = self.client().get_object(
                Bucket=self.bucket, Key=self.key_for(sha256), Range=wanted
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code == "NoSuchKey":
                raise self._missing(sha256) from None
            if code == "InvalidRange":  # from past the end: nothing
                return io.BytesIO(b"")
            raise self._failure(doing, error) from None
        except BotoCoreError as error:
            raise self._failure(doing, error) from None
        download = Download(response["Body"], lambda error: self._failure(doing, error))
        return io.BufferedReader(download, 1 << 16)

    def _missing(self, sha256: str) -> ContentMissing:
        return ContentMissing(f"content {sha256} is missing from {self.location}")

    def download_url(self, sha256: str, *, content_disposition: str, media_type: str) -> str | None:
        if not self.options["redirect_downloads"]:
            return None
        params = {
            "Bucket": self.bucket,
            "Key": self.key_for(sha256),
            "ResponseContentDisposition": content_disposition,
            "ResponseContentType": media_type,
        }
        try:
            return str(
                self.client().generate_presigned_url(
                    "get_object", Params=params, ExpiresIn=self.options["redirect_seconds"]
                )
            )
        except STORE_ERRORS as error:
            raise self._failure(f"sign a link to {sha256}", error) from None

    # --- listing and removing --------------------------------------------------------

    def _listed(
        self, operation: str, prefix: str, doing: str, field: str = "Contents"
    ) -> Iterator[dict[str, Any]]:
        """Every entry (``field`` of each page) of a listing under ``prefix``."""
        pages = iter(
            self.client().get_paginator(operation).paginate(Bucket=self.bucket, Prefix=prefix)
        )
        while True:
            try:
                page = next(pages)
            except StopIteration:
                return
            except STORE_ERRORS as error:
                raise self._failure(doing, error) from None
            yield from page.get(field, ())

    def list(self) -> Iterator[ContentInfo]:
        cut = len(self.prefix)
        for item in self._listed("list_objects_v2", self.prefix, "list the contents"):
            matched = _CONTENT_KEY.fullmatch(item["Key"][cut:])
            if matched:
                yield ContentInfo(
                    matched.group(3), int(item["Size"]), item["LastModified"].timestamp()
                )

    def delete(self, sha256: str, *, unless_modified_after: float | None = None) -> bool:
        # S3 removes without a condition: a content stored again between this look and
        # the removal is lost (the collector's grace period makes that a narrow window)
        info = self.stat(sha256)
        if info is None:
            return False
        if unless_modified_after is not None and info.modified > unless_modified_after:
            return False
        self.call(f"delete {sha256}", "delete_object", Key=self.key_for(sha256))
        return True

    def sweep(self, older_than: float, *, dry_run: bool = False) -> tuple[int, int]:
        """Abort uploads and remove incoming objects a killed server left."""
        incoming = f"{self.prefix}{INCOMING}"
        count = size = 0
        uploads = self._listed("list_multipart_uploads", incoming, "list uploads", "Uploads")
        for upload in list(uploads):
            if upload["Initiated"].timestamp() < older_than:
                if not dry_run:
                    self.call(
                        "abort an upload",
                        "abort_multipart_upload",
                        Key=upload["Key"],
                        UploadId=upload["UploadId"],
                    )
                count += 1
        for item in list(self._listed("list_objects_v2", incoming, "list incoming uploads")):
            if item["LastModified"].timestamp() < older_than:
                if not dry_run:
                    self.call("remove an upload", "delete_object", Key=item["Key"])
                count += 1
                size += int(item["Size"])
        return count, size
