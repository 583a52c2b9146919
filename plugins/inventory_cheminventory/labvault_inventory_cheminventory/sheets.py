"""The rows of an export, streamed: an .xlsx sheet through openpyxl's read-only mode, a
CSV file through an incremental decoder and the csv module. Neither holds the file in
memory; a file that cannot be read at all raises :class:`~labvault.plugin.Invalid`.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from typing import IO, Any

from labvault.plugin import Invalid, check_zip_archive

Row = Sequence[Any]

_MIB = 1024**2
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls (Excel 97-2003) and other OLE files
_CHUNK = 64 * 1024
#: The longest line of a CSV file read; the csv module limits one field to 128 KiB.
_MAX_LINE = 16 * _MIB
_QUOTED = re.compile(r'"[^"]*"')
_SEPARATOR_HINT = re.compile(r"sep=([,;\t|])", re.IGNORECASE)


class XlsxSheet:
    """The rows of one sheet of an .xlsx workbook, checked against zip bombs first.

    ``epoch_1904`` is known once the first row has been read (whether the workbook
    counts date serials from 1904, as old Excel for Mac did).
    """

    def __init__(
        self,
        stream: IO[bytes],
        *,
        sheet: str | None,
        max_unpacked_size: int,
        max_compression_ratio: int,
    ) -> None:
        self.stream = stream
        self.sheet = sheet
        self.max_unpacked_size = max_unpacked_size
        self.max_compression_ratio = max_compression_ratio
        self.epoch_1904 = False

    def rows(self) -> Iterator[Row]:
        # openpyxl (and the NumPy and Pillow it imports) when a sheet is read, not when
        # the plugin is enabled: a server or CLI command that imports nothing pays nothing
        import openpyxl

        with _seekable(self.stream) as stream:
            self._check_archive(stream)
            try:
                workbook = openpyxl.load_workbook(stream, read_only=True, data_only=True)
            except Exception as error:  # openpyxl fails in many ways on a broken file
                raise Invalid(
                    f"not an Excel .xlsx file that can be read ({_said(error)})"
                ) from None
            try:
                self.epoch_1904 = workbook.epoch.year == 1904
                cells = _values(workbook, self._worksheet(workbook))
                while True:
                    try:
                        row = next(cells)
                    except StopIteration:
                        return
                    except Exception as error:  # a damaged part: bad CRC, XML cut short
                        raise Invalid(f"the .xlsx file is damaged ({_said(error)})") from None
                    yield row
            finally:
                workbook.close()

    def _check_archive(self, stream: IO[bytes]) -> None:
        """Refuse an old .xls workbook by name, and what is no zip archive or would
        unpack to more than the importer's limits before anything is unpacked."""
        if stream.read(len(_OLE_MAGIC)).startswith(_OLE_MAGIC):
            raise Invalid(
                "not an Excel .xlsx file: it is an older Excel (.xls) workbook or another "
                "OLE file; save it as .xlsx or export CSV"
            )
        check_zip_archive(
            stream,
            name="the .xlsx file",
            max_unpacked_size=self.max_unpacked_size,
            max_compression_ratio=self.max_compression_ratio,
        )

    def _worksheet(self, workbook: Any) -> Any:
        worksheets = workbook.worksheets  # without chartsheets
        if self.sheet is not None:
            names = [worksheet.title for worksheet in worksheets]
            for name in (self.sheet, *(n for n in names if n.casefold() == self.sheet.casefold())):
                if name in names:
                    return workbook[name]
            raise Invalid(
                f"the workbook has no sheet {self.sheet!r} (the importer's sheet option); "
                f"its sheets are: {', '.join(names) or 'none'}"
            )
        if not worksheets:
            raise Invalid("the workbook has no worksheet")
        active = workbook.active
        return active if active in worksheets else worksheets[0]


def _values(workbook: Any, worksheet: Any) -> Iterator[Row]:
    """The values of a read-only worksheet's rows, like ``iter_rows(values_only=True)``
    after ``reset_dimensions()`` (the <dimension> an application wrote may be wrong),
    in memory that does not grow with the sheet.

    openpyxl's read-only parser clears each row element but leaves it in <sheetData>,
    about 80 bytes a row (80 MB for a million rows). So this loop parses the sheet with
    openpyxl's own cell reader (shared strings, date formats, the epoch) and empties
    <sheetData> after each row. Should openpyxl's internals change, it falls back to
    ``iter_rows``.
    """
    try:
        from openpyxl.worksheet._reader import DATA_TAG, ROW_TAG, WorkSheetParser
        from openpyxl.xml.functions import iterparse

        source = worksheet._get_source()
        parser = WorkSheetParser(
            source,
            worksheet._shared_strings,
            data_only=True,
            epoch=workbook.epoch,
            date_formats=workbook._date_formats,
            timedelta_formats=workbook._timedelta_formats,
        )
    except (ImportError, AttributeError, TypeError):  # pragma: no cover (another openpyxl)
        worksheet.reset_dimensions()
        yield from worksheet.iter_rows(values_only=True)
        return
    with source:
        sheet_data = None
        expected = 1  # the number of the next row; missing ones are empty
        for event, element in iterparse(source, events=("start", "end")):
            if event == "start":
                if element.tag == DATA_TAG:
                    sheet_data = element
                continue
            if element.tag != ROW_TAG:
                continue
            number, cells = parser.parse_row(element)
            if sheet_data is not None:
                sheet_data.clear()  # the rows read so far: the parser holds its current one
            if number < expected:
                continue  # out of order, as openpyxl skips it
            while expected < number:
                yield ()
                expected += 1
            values: list[Any] = [None] * max((cell["column"] for cell in cells), default=0)
            for cell in cells:
                values[cell["column"] - 1] = cell["value"]
            yield tuple(values)
            expected += 1


class _seekable:  # a context manager used like a function
    """``stream`` itself if it can seek (zip archives are read from their end), else a
    temporary file on disk holding a copy."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.copy: IO[bytes] | None = None

    def __enter__(self) -> IO[bytes]:
        seekable = getattr(self.stream, "seekable", None)
        if seekable is not None and seekable():
            return self.stream
        self.copy = tempfile.TemporaryFile()
        shutil.copyfileobj(self.stream, self.copy, _CHUNK)
        self.copy.seek(0)
        return self.copy

    def __exit__(self, *exc_info: object) -> None:
        if self.copy is not None:
            self.copy.close()


def csv_rows(stream: IO[bytes], encoding: str) -> Iterator[Row]:
    """The records of a CSV file in ``encoding``; the delimiter (comma, semicolon or
    tab) is the one the header line has most of, unless a first line like Excel's
    ``sep=;`` names it."""
    lines = _decoded_lines(stream, encoding)
    head: list[str] = []
    for line in lines:
        head.append(line)
        if line.strip():
            break
    hint = _SEPARATOR_HINT.fullmatch(head[-1].strip()) if head else None
    if hint is not None:  # Excel's "sep=;" line: the delimiter, and a row that is no data
        head[-1] = "\n"
    delimiter = hint[1] if hint is not None else _delimiter(head[-1:])
    reader = csv.reader(itertools.chain(head, lines), delimiter=delimiter)
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise Invalid(
                f"the CSV file cannot be read (line {reader.line_num}: {error})"
            ) from None
        yield record


def _delimiter(header: list[str]) -> str:
    unquoted = _QUOTED.sub("", header[0]) if header else ""
    counts = {delimiter: unquoted.count(delimiter) for delimiter in (",", ";", "\t")}
    best = max(counts, key=lambda delimiter: counts[delimiter])  # a tie goes to ","
    return best if counts[best] else ","


def _decoded_lines(stream: IO[bytes], encoding: str) -> Iterator[str]:
    """The lines of ``stream`` decoded strictly: a byte that is not ``encoding`` is an
    :class:`Invalid` naming it and its position, never a replacement character."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    position = 0  # of the next chunk in the file
    line: list[str] = []  # the parts of the line read so far
    length = 0
    while True:
        chunk = stream.read(_CHUNK)
        buffered = decoder.getstate()[0]
        try:
            text = decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as error:
            message = _not_text(error, encoding, position - len(buffered), buffered + chunk)
            raise Invalid(message) from None
        position += len(chunk)
        if "\n" in text:
            first, *middle, last = text.split("\n")
            yield "".join(line) + first + "\n"
            for complete in middle:
                yield complete + "\n"
            line, length = [last], len(last)
        else:
            line.append(text)
            length += len(text)
        if length > _MAX_LINE:
            raise Invalid(f"the CSV file has a line longer than {_MAX_LINE} characters")
        if not chunk:
            if length:
                yield "".join(line)
            return


def _not_text(error: UnicodeDecodeError, encoding: str, start: int, data: bytes) -> str:
    # the decoder may have decoded a suffix of data (utf-8-sig strips the BOM first)
    at = start + len(data) - len(error.object) + error.start
    name = "UTF-8" if codecs.lookup(encoding).name in ("utf-8", "utf-8-sig") else encoding
    other = "utf-8" if codecs.lookup(encoding).name == "cp1252" else "cp1252"
    return (
        f"the file is not valid {name} text (byte 0x{error.object[error.start]:02x} at "
        f'position {at}); set the importer\'s encoding option, e.g. "{other}"'
    )


def _said(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
