"""The ``s3`` file store against boto3 alone: upload and download throughput, side by side.

Starts moto's S3 server on 127.0.0.1 in this process (``pip install -e
'plugins/files_s3[test]'``), then, on the same ``--mb`` MiB of random bytes, each
``--rounds`` times (the best round counts):

  boto3 upload     ``upload_fileobj`` with boto3's managed transfer (parts of
                   ``--part-mb``, 4 threads): the baseline;
  store upload     ``S3FileStore.store``: hashed, sent in parts of the same size as they
                   come (one thread), completed, then copied within the bucket to its
                   sha256 (the copy is part of its time);
  boto3 download   ``get_object`` and reading its body in 1 MiB reads;
  store download   ``S3FileStore.open`` read in 1 MiB reads (a seekable reader: one GET).

It prints MiB/s and the ratio of each store figure to boto3's. moto is a Python server on
the same cores, so the absolute figures say more about moto than about S3; the ratios
show what the store adds (hashing, one part at a time, the copy).
"""

from __future__ import annotations

import argparse
import io
import os
import time
from typing import Any

MiB = 1 << 20
BUCKET = "bench-files"


def best(rounds: int, action: Any) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=64)
    parser.add_argument("--part-mb", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from boto3.s3.transfer import TransferConfig
    from labvault_backup_s3.testing import s3_client, s3_server
    from labvault_files_s3 import S3FileStore
    from moto.server import ThreadedMotoServer

    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
    data = os.urandom(args.mb * MiB)
    with s3_server(ThreadedMotoServer) as endpoint:
        client = s3_client(endpoint, "bench", "bench")
        client.create_bucket(Bucket=BUCKET)
        options = S3FileStore.OptionsSchema().load(
            {
                "bucket": BUCKET,
                "endpoint_url": endpoint,
                "region": "us-east-1",
                "multipart_chunksize": args.part_mb * MiB,
            }
        )
        store = S3FileStore("default", options, None)  # type: ignore[arg-type]
        transfer = TransferConfig(
            multipart_threshold=args.part_mb * MiB, multipart_chunksize=args.part_mb * MiB
        )
        sha256 = store.store(io.BytesIO(data)).sha256

        def boto_upload() -> None:
            client.upload_fileobj(io.BytesIO(data), BUCKET, "plain/object", Config=transfer)

        def store_upload() -> None:
            store.delete(sha256)  # else it is only stored again (a copy onto itself)
            store.store(io.BytesIO(data))

        def boto_download() -> None:
            body = client.get_object(Bucket=BUCKET, Key="plain/object")["Body"]
            while body.read(MiB):
                pass

        def store_download() -> None:
            with store.open(sha256) as stream:
                while stream.read(MiB):
                    pass

        figures = {
            name: args.mb / best(args.rounds, action)
            for name, action in [
                ("boto3 upload", boto_upload),
                ("store upload", store_upload),
                ("boto3 download", boto_download),
                ("store download", store_download),
            ]
        }
    for name, rate in figures.items():
        base = figures[name.replace("store", "boto3")]
        print(f"{name:15} {rate:8.1f} MiB/s  {rate / base:5.2f}x boto3")


if __name__ == "__main__":
    main()
