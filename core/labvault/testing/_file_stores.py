"""The contract every file store type passes (:class:`FileStoreContract`)."""

from __future__ import annotations

import hashlib
import io
import os
import time
from typing import Any

import pytest

from labvault.testing._backups import _Breaks

#: Larger than two parts of an upload in parts (an object store's smallest part is
#: usually 5 MiB), with a short last part.
LARGE = 12 * 1024 * 1024 + 5


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FileStoreContract:
    """What every file store type must do, as tests: subclass it in a test module and
    give it a fixture ``file_store`` (an empty store, ready to use)."""

    def test_store_keeps_content_under_its_sha256(self, file_store: Any) -> None:
        large = os.urandom(LARGE)

        small = file_store.store(io.BytesIO(b"spectrum"))
        stored = file_store.store(io.BytesIO(large))

        assert (small.sha256, small.size) == (_digest(b"spectrum"), 8)
        assert (stored.sha256, stored.size) == (_digest(large), len(large))
        with file_store.open(stored.sha256) as stream:
            assert stream.read() == large
        info = file_store.stat(stored.sha256)
        assert (info.sha256, info.size) == (stored.sha256, len(large))
        assert abs(info.modified - time.time()) < 300
        assert file_store.exists(small.sha256)

    def test_identical_content_is_kept_once_and_stored_again_now(self, file_store: Any) -> None:
        first = file_store.store(io.BytesIO(b"same bytes"))
        before = file_store.stat(first.sha256).modified

        again = file_store.store(io.BytesIO(b"same bytes"))

        assert again.sha256 == first.sha256
        assert [info.sha256 for info in file_store.list()] == [first.sha256]
        # the collector's grace period starts again for an upload of content it holds
        assert file_store.stat(first.sha256).modified >= before
        assert not file_store.delete(first.sha256, unless_modified_after=time.time() - 60)
        assert file_store.exists(first.sha256)

    def test_open_reads_a_byte_range_and_seeks(self, file_store: Any) -> None:
        data = os.urandom(100_000)
        sha256 = file_store.store(io.BytesIO(data)).sha256

        for start, end in ((0, 10), (5, 6), (99_990, 100_000), (1_000, None), (0, None)):
            with file_store.open(sha256, start, end) as stream:
                assert stream.read() == data[start:end], (start, end)
        with file_store.open(sha256) as stream:
            stream.seek(50_000)
            assert stream.read(4) == data[50_000:50_004]
            stream.seek(-3, io.SEEK_END)
            assert stream.read() == data[-3:]
            stream.seek(0)
            assert stream.read(2) == data[:2]

    def test_missing_content(self, file_store: Any) -> None:
        from labvault.plugin import ContentMissing

        missing = "0" * 64
        assert file_store.stat(missing) is None
        assert not file_store.exists(missing)
        assert file_store.delete(missing) is False
        with pytest.raises(ContentMissing):
            file_store.open(missing)
        assert list(file_store.list()) == []

    def test_list_gives_every_content_in_order_and_delete_removes(self, file_store: Any) -> None:
        contents = [f"content {n}".encode() for n in range(6)]
        for data in contents:
            file_store.store(io.BytesIO(data))

        listed = list(file_store.list())

        assert [info.sha256 for info in listed] == sorted(_digest(data) for data in contents)
        assert {info.size for info in listed} == {9}
        gone = listed[2].sha256
        assert file_store.delete(gone) is True
        assert file_store.delete(gone) is False
        assert file_store.stat(gone) is None
        assert gone not in [info.sha256 for info in file_store.list()]

    def test_delete_unless_stored_again_after(self, file_store: Any) -> None:
        sha256 = file_store.store(io.BytesIO(b"old")).sha256

        assert file_store.delete(sha256, unless_modified_after=time.time() - 3600) is False
        assert file_store.exists(sha256)
        assert file_store.delete(sha256, unless_modified_after=time.time() + 3600) is True
        assert not file_store.exists(sha256)

    def test_a_failed_or_discarded_write_leaves_nothing(self, file_store: Any) -> None:
        from labvault.plugin import ContentTooLarge

        kept = file_store.store(io.BytesIO(b"whole")).sha256
        with pytest.raises(OSError, match="the stream broke"):
            file_store.store(io.BufferedReader(_Breaks(os.urandom(LARGE))))
        with pytest.raises(ContentTooLarge):
            file_store.store(io.BytesIO(os.urandom(LARGE)), max_size=LARGE - 1)
        writer = file_store.writer()
        writer.write(os.urandom(LARGE))
        writer.discard()
        writer.discard()

        assert [info.sha256 for info in file_store.list()] == [kept]
        # what abandoned writes left behind, if anything, is swept
        file_store.sweep(time.time() + 3600)
        assert [info.sha256 for info in file_store.list()] == [kept]

    def test_a_writer_is_written_rewound_and_kept(self, file_store: Any) -> None:
        data = os.urandom(LARGE)
        writer = file_store.writer()
        for start in range(0, len(data), 1 << 16):
            writer.write(data[start : start + (1 << 16)])
        writer.seek(0)  # what werkzeug does once an uploaded part is written

        assert writer.size == len(data)
        assert file_store.owns(writer)
        stored = file_store.keep(writer)

        assert (stored.sha256, stored.size) == (_digest(data), len(data))
        assert writer.closed
        with file_store.open(stored.sha256, len(data) - 10) as stream:
            assert stream.read() == data[-10:]
