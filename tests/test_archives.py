"""check_zip_archive: the one check every block type and importer runs before it opens a
zip archive (.xlsx, .docx, ...), from the sizes the archive declares."""

from __future__ import annotations

import io
import struct
import zipfile

import pytest
from labvault.plugin import DEFAULT_MAX_COMPRESSION_RATIO, Invalid, check_zip_archive

from tests.spreadsheets import MIB, SHEET, xlsx_bomb, xlsx_bytes


def check(data: bytes, **limits: int) -> list[zipfile.ZipInfo]:
    return check_zip_archive(
        io.BytesIO(data), name="run.xlsx", **{"max_unpacked_size": 16 * MIB, **limits}
    )


def archive(parts: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as written:
        for name, data in parts.items():
            written.writestr(name, data)
    return buffer.getvalue()


def test_a_workbook_within_the_limits_is_let_through():
    stream = io.BytesIO(xlsx_bytes([["x", "y"], [1, 2]]))
    stream.seek(100)

    parts = check_zip_archive(stream, name="run.xlsx", max_unpacked_size=MIB)

    assert SHEET in {part.filename for part in parts}
    assert stream.tell() == 0  # ready for the reader
    assert DEFAULT_MAX_COMPRESSION_RATIO == 200


def test_small_parts_may_pack_tightly_large_ones_not():
    assert check(archive({"styles.xml": b" " * (MIB - 1)}))  # packs 1000 times, 1 byte short
    with pytest.raises(Invalid, match=r"^run\.xlsx: its part big\.xml unpacks to 1048576 bytes"):
        check(archive({"big.xml": b" " * MIB}))
    assert check(archive({"big.xml": b" " * MIB}), max_compression_ratio=2000)


def test_the_limit_counts_every_part_together():
    parts = {f"part{n}.xml": bytes(range(256)) * 1024 for n in range(5)}  # 256 KiB each

    with pytest.raises(Invalid) as refused:
        check(archive(parts), max_unpacked_size=MIB)

    assert refused.value.message == (
        "run.xlsx unpacks to 1310720 bytes, more than max_unpacked_size (1048576)"
    )
    assert refused.value.status == 422


def declare_packed_size(data: bytes, part: str, packed: int) -> bytes:
    """``data`` with the central directory's entry of ``part`` declaring ``packed`` bytes."""
    changed = bytearray(data)
    entry = data.find(b"PK\x01\x02")
    while entry >= 0:
        (name_length,) = struct.unpack_from("<H", data, entry + 28)
        if data[entry + 46 : entry + 46 + name_length] == part.encode():
            struct.pack_into("<I", changed, entry + 20, packed)
            return bytes(changed)
        entry = data.find(b"PK\x01\x02", entry + 1)
    raise AssertionError(f"no entry of {part}")


def test_a_part_that_declares_more_packed_bytes_than_the_file_holds_is_damaged():
    """A lie in the directory would pass the ratio check: 64 MiB declared as packed into
    1 MiB while 260 KB carry it (zipfile would read on to the end, and unpack it all)."""
    lying = declare_packed_size(xlsx_bomb(64 * MIB), SHEET, MIB)

    with pytest.raises(Invalid, match=r"^run\.xlsx is damaged: its parts declare more packed"):
        check(lying, max_unpacked_size=128 * MIB)


def test_too_many_parts():
    many = archive({f"p{n}": b"" for n in range(10_001)})

    with pytest.raises(Invalid, match=r"^run\.xlsx has 10001 parts: more than 10000$"):
        check(many)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", r"^run\.xlsx is not a zip archive$"),
        (b"%PDF-1.7 not a zip", r"^run\.xlsx is not a zip archive$"),
        (b"PK\x03\x04" + bytes(100), r"^run\.xlsx is damaged or cut short \(BadZipFile: "),
    ],
)
def test_what_is_no_zip_archive(data, message):
    with pytest.raises(Invalid, match=message):
        check(data)


def test_a_workbook_cut_short():
    whole = xlsx_bytes([["x"], [1]])

    with pytest.raises(Invalid, match=r"^run\.xlsx is damaged or cut short"):
        check(whole[: len(whole) - 30])
