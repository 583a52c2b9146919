"""Reading the values of an export's cells: text, numbers with units, dates, CAS numbers
and GHS hazard codes.

A cell comes from openpyxl (``str``, ``int``, ``float``, ``bool``, ``datetime``, ...) or
from the csv module (``str``). A value that cannot be read raises :class:`Unreadable`
with what is wrong; the importer then keeps the cell as an attribute and warns.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from typing import Any

#: The day Excel's 1900 date system counts from, for serials after its 29 February 1900
#: (serial 60, a day that never was: Lotus 1-2-3 took 1900 for a leap year).
_EXCEL_1900 = dt.date(1899, 12, 30)
_EXCEL_1904 = dt.date(1904, 1, 1)
_LAST_SERIAL = 2_958_465  # 9999-12-31

_NUMBER = re.compile(
    r"""\s*(?P<number>[+-]?
        (?:\d{1,3}(?:,\d{3})+\.\d*      # 1,234.5
          |\d{1,3}(?:\.\d{3})+,\d*      # 1.234,5
          |\d+(?:[.,]\d*)?              # 500, 99.5, 1,5
          |[.,]\d+)                     # .5
        (?:[eE][+-]?\d+)?)
        \s*(?P<rest>.*)""",
    re.VERBOSE | re.DOTALL,
)
_TIME = r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[AaPp][Mm]|Z|[+-]\d{2}:?\d{2})?)?"
_DATES = (  # (pattern, order of year, month, day in its groups)
    (re.compile(rf"(\d{{4}})-(\d{{1,2}})-(\d{{1,2}}){_TIME}"), (0, 1, 2)),
    (re.compile(rf"(\d{{4}})/(\d{{1,2}})/(\d{{1,2}}){_TIME}"), (0, 1, 2)),
    (re.compile(rf"(\d{{1,2}})\.(\d{{1,2}})\.(\d{{4}}){_TIME}"), (2, 1, 0)),
    (re.compile(rf"(\d{{1,2}})/(\d{{1,2}})/(\d{{4}}){_TIME}"), (2, 0, 1)),  # US: month first
)
_SERIAL = re.compile(r"\d+(?:\.\d*)?")
_CAS = re.compile(r"(\d{2,7})-(\d{2})-(\d)")
_CAS_DIGITS = re.compile(r"\d{5,10}")
_GHS_SEPARATORS = re.compile(r"[,;+\s]+")
_GHS_CODE = re.compile(r"(EU)?H(\d{3})([A-Za-z]{0,2})", re.IGNORECASE)


#: Values read, remembered by cell value (and type): an export repeats its sizes, dates,
#: CAS numbers and weights row after row. A value that cannot be read is not remembered.
remembered = functools.lru_cache(maxsize=4096, typed=True)


class Unreadable(ValueError):
    """A cell's value cannot become its field; the message says why (after the row)."""


def text(value: Any) -> str | None:
    """The cell as text, stripped; None for a blank cell."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a barcode or count typed as a number: "1042", not "1042.0"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value).strip() or None


@remembered
def number_and_rest(value: Any, header: str) -> tuple[float, str]:
    """The leading number of a cell (``"500 mL"``, ``"99.5 %"``, ``"1,5"``) and the text
    after it (``"mL"``)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise Unreadable(f"{header} {value!r} is not a number")
        return float(value), ""
    shown = text(value) or ""
    match = _NUMBER.fullmatch(shown)
    if match is None:
        raise Unreadable(f"{header} {shown!r} is not a number")
    digits = match["number"]
    if "," in digits and "." in digits:  # the later one separates the decimals
        thousands = "," if digits.rindex(".") > digits.rindex(",") else "."
        digits = digits.replace(thousands, "")
    return float(digits.replace(",", ".")), match["rest"].strip()


def excel_serial_date(serial: float, header: str, *, epoch_1904: bool = False) -> dt.date:
    """The day of an Excel date serial (the time of day, the fraction, is dropped)."""
    days = math.floor(serial)
    if epoch_1904:
        if 0 <= days <= _LAST_SERIAL - 1462:
            return _EXCEL_1904 + dt.timedelta(days=days)
    elif days == 60:
        raise Unreadable(f"{header} {serial:g} is 29 February 1900, a day that never was")
    elif 1 <= days < 60:
        return _EXCEL_1900 + dt.timedelta(days=days + 1)
    elif 60 < days <= _LAST_SERIAL:
        return _EXCEL_1900 + dt.timedelta(days=days)
    raise Unreadable(f"{header} {serial:g} is not a date")


@remembered
def iso_date(value: Any, header: str, *, epoch_1904: bool = False) -> str:
    """The date of a cell as ``YYYY-MM-DD``: a datetime or date (a date-formatted Excel
    cell), an Excel serial (a plain number cell, or digits in a CSV), or text:
    ``2024-03-01``, ``2024/03/01``, ``01.03.2024`` (day first), ``3/1/2024`` (month
    first), each optionally followed by a time."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return excel_serial_date(value, header, epoch_1904=epoch_1904).isoformat()
    shown = text(value) or ""
    if _SERIAL.fullmatch(shown):
        return excel_serial_date(float(shown), header, epoch_1904=epoch_1904).isoformat()
    for pattern, (year, month, day) in _DATES:
        match = pattern.fullmatch(shown)
        if match is not None:
            parts = match.groups()
            try:
                return dt.date(int(parts[year]), int(parts[month]), int(parts[day])).isoformat()
            except ValueError:
                break
    raise Unreadable(f"{header} {shown!r} is not a date")


@remembered
def cas_number(value: Any) -> str:
    """A CAS registry number with a valid check digit, like ``64-17-5`` (spaces removed;
    digits alone, like ``64175``, get their hyphens)."""
    shown = "".join((text(value) or "").split())
    if _CAS_DIGITS.fullmatch(shown):
        shown = f"{shown[:-3]}-{shown[-3:-1]}-{shown[-1]}"
    match = _CAS.fullmatch(shown)
    if match is None:
        raise Unreadable(f"CAS {shown} is not a CAS number (like 64-17-5)")
    digits = (match[1] + match[2])[::-1]
    if sum(place * int(digit) for place, digit in enumerate(digits, 1)) % 10 != int(match[3]):
        raise Unreadable(f"CAS {shown} has a bad check digit")
    return shown


def ghs_codes(value: Any) -> tuple[list[str], list[str]]:
    """The hazard statement codes of a cell (``"H225, H319; EUH066"``) and the words that
    are not one. ``H300+H310`` counts as both codes; each code is kept once."""
    codes: list[str] = []
    others: list[str] = []
    for word in _GHS_SEPARATORS.split(text(value) or ""):
        word = word.strip(".:()[]")
        if not word:
            continue
        match = _GHS_CODE.fullmatch(word)
        if match is None:
            others.append(word)
            continue
        code = f"{'EU' if match[1] else ''}H{match[2]}{match[3]}"
        if code not in codes:
            codes.append(code)
    return codes, others
