"""Reading a CSV, TSV or XLSX table as a stream, and describing its columns.

Used by the ``tabular`` block type. A file is read one chunk of rows at a time (200,000
rows take under a second), and each column keeps its numbers as a compact array:

- CSV/TSV: the delimiter is sniffed from the first lines (``,`` ``;`` tab ``|``), falling
  back to the extension; UTF-8 (with or without BOM) or UTF-16 with BOM, else Windows-1252.
  When the delimiter is not a comma, ``1,5`` is read as the number 1.5.
- XLSX: the first sheet, read-only, cached formula results; openpyxl is imported here only
  when such a file is read, and only once :func:`labvault.plugin.check_zip_archive` has
  found that the workbook unpacks to no more than the block type's limits.

The first row is the header. A column whose values all parse as numbers is ``number``, as
ISO 8601 dates or date-times ``date``, anything else ``text``; empty cells and ``NA``,
``N/A``, ``NaN``, ``null``, ``None`` and infinities are missing.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
from array import array
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from typing import Any, BinaryIO

from labvault.plugin import BlockFile, Invalid, ProcessingError, check_zip_archive

DELIMITED_EXTENSIONS = {".csv": ",", ".tsv": "\t"}
SPREADSHEET_EXTENSION = ".xlsx"
SNIFF_DELIMITERS = ",;\t|"
SNIFF_BYTES = 64 * 1024
SNIFF_LINES = 50
MISSING_WORDS = frozenset({"na", "n/a", "#n/a", "nan", "null", "none"})

NUMBER, DATE, TEXT = "number", "date", "text"
NAN = math.nan
EPOCH = datetime(1970, 1, 1)
CHUNK_ROWS = 2048
_UNSEEN: Any = object()


def _seconds(moment: datetime) -> float:
    """Seconds since 1970 of a naive (as written) or aware (then UTC) date-time."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return (moment - EPOCH).total_seconds()


def moment(seconds: float) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


def _iso_date(seconds: float) -> str:
    when = moment(seconds)
    return when.date().isoformat() if when.time() == time() else when.isoformat()


def plain(number: float) -> float | int:
    """Whole numbers as ints, so JSON says 3 instead of 3.0."""
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def _classify_text(cell: str, decimal_comma: bool) -> tuple[str | None, Any]:
    """(kind, value) of a cell that ``float()`` refused; kind None means missing."""
    value = cell.strip()
    if not value or value.lower() in MISSING_WORDS:
        return None, None
    if decimal_comma and value.count(",") == 1 and "." not in value:
        try:
            number = float(value.replace(",", "."))
        except ValueError:
            pass
        else:
            return (NUMBER, number) if math.isfinite(number) else (None, None)
    if len(value) >= 10 and value[:4].isdigit():
        try:
            return DATE, _seconds(datetime.fromisoformat(value))
        except ValueError:
            pass
    return TEXT, value


def _classify_value(cell: Any, decimal_comma: bool) -> tuple[str | None, Any]:
    """(kind, value) of a spreadsheet cell, which may already be a number or a date."""
    if cell is None:
        return None, None
    if isinstance(cell, str):
        try:
            number = float(cell)
        except ValueError:
            return _classify_text(cell, decimal_comma)
        return (NUMBER, number) if math.isfinite(number) else (None, None)
    if isinstance(cell, bool):
        return TEXT, str(cell).upper()
    if isinstance(cell, int | float):
        return (NUMBER, float(cell)) if math.isfinite(cell) else (None, None)
    if isinstance(cell, datetime):
        return DATE, _seconds(cell)
    if isinstance(cell, date):
        return DATE, _seconds(datetime.combine(cell, time()))
    return TEXT, str(cell)


class Column:
    """One column's type and values, built up chunk by chunk."""

    __slots__ = ("decimal_comma", "distinct", "kind", "missing", "name", "seen", "values")

    def __init__(self, name: str, decimal_comma: bool) -> None:
        self.name = name
        self.decimal_comma = decimal_comma
        #: NUMBER, DATE or TEXT; None while every cell so far was missing.
        self.kind: str | None = None
        #: Numbers, or dates as seconds since 1970; NaN where missing. None once text.
        self.values: array[float] | None = array("d")
        #: Once text: (kind, value) of the values seen before, and each raw cell's
        #: (kind, value), or None for a missing one; their union gives the distinct count.
        self.distinct: set[tuple[str, Any]] = set()
        self.seen: dict[Any, tuple[str, Any] | None] = {}
        self.missing = 0

    def extend(self, cells: Sequence[Any]) -> None:
        if self.kind == TEXT or not self._extendplain(cells):
            for cell in cells:
                self.add(cell)

    def _extendplain(self, cells: Sequence[Any]) -> bool:
        """Take a run of cells that are all numbers or (in a date column) all ISO dates,
        the common case, in C loops; False, taking nothing, for anything else."""
        assert self.values is not None
        types = set(map(type, cells))
        try:
            if self.kind == DATE and types == {str}:
                values = list(map(_seconds, map(datetime.fromisoformat, cells)))
            elif self.kind != DATE and types <= {str, int, float}:
                values = list(map(float, cells))
                total = sum(values)
                if total - total != 0.0:  # NaN or infinity among them: missing, cell by cell
                    return False
                self.kind = NUMBER
            else:
                return False
        except ValueError:
            return False
        self.values.extend(values)
        return True

    def _classify(self, cell: Any) -> tuple[str | None, Any]:
        if cell.__class__ is str:
            try:
                number = float(cell)
            except ValueError:
                return _classify_text(cell, self.decimal_comma)
            return (NUMBER, number) if number - number == 0.0 else (None, None)
        return _classify_value(cell, self.decimal_comma)

    def add(self, cell: Any) -> None:
        if self.kind == TEXT:
            key = self.seen.get(cell, _UNSEEN)
            if key is _UNSEEN:
                kind, value = self._classify(cell)
                key = self.seen[cell] = None if kind is None else (kind, value)
            if key is None:
                self.missing += 1
            return
        assert self.values is not None
        kind, value = self._classify(cell)
        if kind is None:
            self.missing += 1
            self.values.append(NAN)
        elif kind == self.kind:
            self.values.append(value)
        elif self.kind is None and kind != TEXT:
            self.kind = kind
            self.values.append(value)
        else:  # text, or numbers and dates mixed: the column is text from now on
            if self.kind is not None:
                self.distinct = {(self.kind, v) for v in self.values if v == v}
            self.kind, self.values = TEXT, None
            self.add(cell)

    def present(self) -> list[float]:
        return [v for v in self.values or () if v == v]

    def summary(self, row_count: int) -> dict[str, Any]:
        kind = self.kind or TEXT
        count = row_count - self.missing
        statistics: dict[str, Any] = {"count": count, "missing": self.missing}
        if kind == NUMBER:
            values = self.present()
            low, high = min(values), max(values)
            statistics |= {"min": plain(low), "max": plain(high), **_moments(values, low, high)}
        elif kind == DATE:
            values = self.present()
            statistics |= {"min": _iso_date(min(values)), "max": _iso_date(max(values))}
        else:
            distinct = self.distinct.union(key for key in self.seen.values() if key)
            statistics["distinct"] = len(distinct)
        return {"name": self.name, "type": kind, "statistics": statistics}


def _moments(values: list[float], low: float, high: float) -> dict[str, float | None]:
    """Mean and sample standard deviation, None where they exceed the float range."""
    count = len(values)
    try:
        mean = math.fsum(values) / count
    except OverflowError:  # the sum passes 1.8e308 on the way
        mean = math.fsum(v / count for v in values)
    scale = max(abs(low), abs(high)) or 1.0  # keeps the squares in range
    spread = math.fsum(((v - mean) / scale) ** 2 for v in values)
    std = scale * math.sqrt(spread / (count - 1)) if count > 1 else None
    return {
        "mean": mean if math.isfinite(mean) else None,
        "std": std if std is None or math.isfinite(std) else None,
    }


def _column_names(header: Sequence[Any]) -> list[str]:
    """Header cells as unique names; blank ones become ``column 3``."""
    names: list[str] = []
    for number, cell in enumerate(header, 1):
        name = "" if cell is None else str(cell).strip()
        name = name or f"column {number}"
        unique, copy = name, 2
        while unique in names:
            unique, copy = f"{name} ({copy})", copy + 1
        names.append(unique)
    return names


def _is_blank(cell: Any) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


class Table:
    """The columns of a file read row by row."""

    def __init__(self, name: str, rows: Iterator[Sequence[Any]], decimal_comma: bool) -> None:
        header: Sequence[Any] | None = next(rows, None)
        next_row = 2  # 1-based number in the file of the row after the header
        while header is not None and all(_is_blank(cell) for cell in header):
            header, next_row = next(rows, None), next_row + 1
        if header is None:
            raise ProcessingError(f"{name} is empty: the first row must name the columns")
        while header and _is_blank(header[-1]):
            header = header[:-1]
        self.columns = [Column(n, decimal_comma) for n in _column_names(header)]
        self.row_count = 0
        self._name = name
        while chunk := list(islice(rows, CHUNK_ROWS)):
            first_row, next_row = next_row, next_row + len(chunk)
            if set(map(len, chunk)) != {len(self.columns)} or not all(map(any, chunk)):
                chunk = self._regular(chunk, first_row)
            if not chunk:
                continue
            self.row_count += len(chunk)
            for column, cells in zip(self.columns, zip(*chunk, strict=True), strict=True):
                column.extend(cells)

    def _regular(self, chunk: list[Sequence[Any]], first_row: int) -> list[Sequence[Any]]:
        """The rows of ``chunk`` that hold something, each as long as the header."""
        width = len(self.columns)
        regular = []
        for number, row in enumerate(chunk, first_row):
            if all(_is_blank(cell) for cell in row):
                continue
            if len(row) > width:
                if not all(_is_blank(cell) for cell in row[width:]):
                    raise ProcessingError(
                        f"{self._name}, row {number}: {len(row)} values, "
                        f"but the header names {width} columns"
                    )
                row = row[:width]
            elif len(row) < width:
                row = (*row, *(None,) * (width - len(row)))
            regular.append(row)
        return regular

    def column(self, name: str | None) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


def _text_encoding(content: BinaryIO) -> tuple[str, str, str]:
    """(encoding, errors, first lines as text) of a delimited text file."""
    content.seek(0)
    head = content.read(SNIFF_BYTES)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding, errors = "utf-16", "strict"
    elif b"\x00" in head:
        raise ProcessingError("is not a text file")
    else:
        encoding, errors = "utf-8-sig", "strict"
    try:
        text = codecs.getincrementaldecoder(encoding)(errors).decode(head, final=False)
    except UnicodeDecodeError:
        encoding, errors = "cp1252", "replace"
        text = head.decode(encoding, errors)
    lines = text.splitlines(keepends=True)
    if len(head) == SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut off
    return encoding, errors, "".join(lines[:SNIFF_LINES])


def _delimiter(sample: str, extension: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=SNIFF_DELIMITERS).delimiter
    except csv.Error:  # one column, or too irregular to tell
        return DELIMITED_EXTENSIONS[extension]


def _read_delimited(file: BlockFile, content: BinaryIO) -> tuple[Table, str]:
    encoding, errors, sample = _text_encoding(content)
    if not sample.strip():
        raise ProcessingError("is empty: the first row must name the columns")
    delimiter = _delimiter(sample, file.extension)
    for attempt in (encoding, "cp1252"):
        errors = errors if attempt == encoding else "replace"
        content.seek(0)
        text = io.TextIOWrapper(content, encoding=attempt, errors=errors, newline="")
        reader = csv.reader(text, delimiter=delimiter)
        try:
            return Table(file.name, reader, decimal_comma=delimiter != ","), delimiter
        except UnicodeDecodeError:
            continue  # valid UTF-8 at the start only: read it all as Windows-1252
        except csv.Error as exc:
            raise ProcessingError(f"line {reader.line_num}: {exc}") from exc
        finally:
            text.detach()  # the caller closes the content
    raise AssertionError("unreachable: cp1252 with errors='replace' decodes anything")


def _read_spreadsheet(file: BlockFile, content: BinaryIO, limits: Mapping[str, int]) -> Table:
    try:
        check_zip_archive(content, name=file.name, **limits)
    except Invalid as refused:
        raise ProcessingError(refused.message) from None
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(content, read_only=True, data_only=True)
    except Exception as exc:  # zipfile, XML and openpyxl's own errors alike
        raise ProcessingError(f"is not a readable .xlsx workbook ({exc})") from exc
    try:
        if not workbook.worksheets:
            raise ProcessingError("has no worksheet")
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # some writers record wrong dimensions
        return Table(file.name, sheet.iter_rows(values_only=True), decimal_comma=True)
    finally:
        workbook.close()


def read_table(
    file: BlockFile, content: BinaryIO, zip_limits: Mapping[str, int]
) -> tuple[Table, str | None]:
    """The table in ``file``, read from ``content`` (its stored content, seekable); an
    .xlsx workbook only within ``zip_limits`` (``max_unpacked_size`` and
    ``max_compression_ratio``, as :func:`labvault.plugin.check_zip_archive` takes them)."""
    try:
        if file.extension == SPREADSHEET_EXTENSION:
            return _read_spreadsheet(file, content, zip_limits), None
        return _read_delimited(file, content)
    except ProcessingError as exc:
        message = str(exc)
        raise ProcessingError(
            message if message.startswith(file.name) else f"{file.name} {message}"
        ) from exc
    except Exception as exc:  # a broken file must become the block's error, not a 500
        raise ProcessingError(f"{file.name} could not be read: {exc}") from exc
