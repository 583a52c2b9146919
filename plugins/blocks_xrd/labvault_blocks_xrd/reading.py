"""Reading powder patterns: .xy / .xye text and PANalytical .xrdml XML.

Each reader returns a :class:`Pattern` (2θ in degrees, increasing; intensities; the
wavelength the file states, if any) or raises :class:`labvault.plugin.ProcessingError`
with a message for the person who uploaded the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree.ElementTree import Element

import numpy as np
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from labvault.plugin import ProcessingError

#: Characters that start a comment line in .xy files (GSAS, FullProf, Fityk, ...).
COMMENT_STARTS = ("#", "!", ";", "%", "//", "'")


@dataclass(frozen=True)
class Pattern:
    """A powder pattern: 2θ (degrees, increasing) and intensity, and the format's name."""

    two_theta: np.ndarray
    intensity: np.ndarray
    format: str
    #: The wavelength (Å) the file states (.xrdml's ``usedWavelength/kAlpha1``), or None.
    wavelength: float | None = None


def read_pattern(name: str, raw: bytes, min_points: int) -> Pattern:
    """The pattern of a file by its extension (``.xy``, ``.xye`` or ``.xrdml``)."""
    pattern = read_xrdml(raw) if name.lower().endswith(".xrdml") else read_xy(raw)
    check_pattern(pattern, min_points)
    return pattern


def _text(raw: bytes) -> str:
    if b"\x00" in raw[:4096]:
        raise ProcessingError("this is not a text file (it holds binary data)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # headers written on Windows; the numbers are ASCII


def read_xy(raw: bytes) -> Pattern:
    """Two or three columns (2θ, intensity, [error]) separated by spaces, tabs, commas or
    semicolons; where the values are separated by tabs or semicolons, a comma is a decimal
    comma (``28,44;1520``). Comment lines may come anywhere, header lines (anything not
    numbers) before the first row of numbers; a line of text after it is an error."""
    lines = _text(raw).splitlines()
    first = next((n for n, line in enumerate(lines) if _numeric(line, ",;")), None)
    if first is None:
        raise ProcessingError("no pattern found: no line holds 2θ and intensity as numbers")
    decimal_comma = "," in lines[first] and any(c in lines[first] for c in "\t;")
    table = str.maketrans({",": ".", ";": " "} if decimal_comma else {",": " ", ";": " "})
    kept = [
        (number, line.translate(table))
        for number, line in enumerate(lines[first:], start=first + 1)
        if line.strip() and not line.lstrip().startswith(COMMENT_STARTS)
    ]
    widths = [len(line.split()) for _, line in kept]
    columns = widths[0]
    try:
        if columns not in (2, 3) or any(w != columns for w in widths):
            raise ValueError
        values = np.array(" ".join(line for _, line in kept).split(), dtype=float)
    except ValueError:
        _explain(kept)  # the first line at fault, by its number
        raise ProcessingError("the lines of numbers are not 2θ, intensity, [error]") from None
    data = values.reshape(-1, columns)
    if not np.all(np.isfinite(data)):
        number, line = kept[int(np.argmax(~np.all(np.isfinite(data), axis=1)))]
        raise ProcessingError(
            f"line {number}: {line.strip()[:60]!r} holds a value that is no number"
        )
    return Pattern(data[:, 0], data[:, 1], "xye" if columns == 3 else "xy")


def _numeric(line: str, separators: str) -> bool:
    """Whether a line (not a comment) holds only numbers."""
    line = line.strip()
    if not line or line.startswith(COMMENT_STARTS):
        return False
    for separator in separators:
        line = line.replace(separator, " ")
    try:
        [float(field) for field in line.split()]
    except ValueError:
        return False
    return True


def _explain(kept: list[tuple[int, str]]) -> None:
    """Raise the ProcessingError of the first of the data lines that is not 2 or 3
    numbers, or as many as the first line."""
    columns = len(kept[0][1].split())
    for number, line in kept:
        fields = line.split()
        try:
            [float(field) for field in fields]
        except ValueError:
            raise ProcessingError(
                f"line {number}: {line.strip()[:60]!r} is not numbers (2θ, intensity, [error])"
            ) from None
        if len(fields) not in (2, 3):
            raise ProcessingError(
                f"line {number}: {len(fields)} value{'s' * (len(fields) != 1)}; a pattern "
                "has 2θ, intensity and optionally its error"
            )
        if len(fields) != columns:
            raise ProcessingError(
                f"line {number}: {len(fields)} values, where line {kept[0][0]} has {columns}"
            )


def _local(tag: str) -> str:
    """An element's name without its namespace (``{http://...}dataPoints`` -> ``dataPoints``)."""
    return tag.rsplit("}", 1)[-1]


def _numbers(text: str | None, what: str) -> np.ndarray:
    try:
        values = np.array([float(v) for v in (text or "").split()], dtype=float)
    except ValueError:
        raise ProcessingError(f"<{what}> holds something that is not a number") from None
    if not np.all(np.isfinite(values)):
        raise ProcessingError(f"<{what}> holds a value that is no number")
    return values


def read_xrdml(raw: bytes) -> Pattern:
    """The first scan of a PANalytical .xrdml file: ``<dataPoints>`` with ``<positions
    axis="2Theta">`` (start and end, or ``listPositions``) and ``<intensities>`` or
    ``<counts>``; the wavelength from ``usedWavelength/kAlpha1``. A DTD, an entity or an
    external reference is refused before anything is parsed further."""
    try:
        root = fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise ProcessingError(
            "the XML declares a DTD or entities, which an .xrdml file has no need of; refused"
        ) from None
    except Exception as exc:  # ParseError, or expat's own errors
        raise ProcessingError(f"not readable XML: {exc}") from None
    if _local(root.tag) != "xrdMeasurements":
        raise ProcessingError(f"not an .xrdml file: its root is <{_local(root.tag)}>")
    points = next((e for e in root.iter() if _local(e.tag) == "dataPoints"), None)
    if points is None:
        raise ProcessingError("the .xrdml file holds no <dataPoints>")
    children = {_local(e.tag): e for e in points}
    counts = children.get("intensities", children.get("counts"))
    if counts is None:
        raise ProcessingError("the .xrdml file's <dataPoints> hold no <intensities> or <counts>")
    intensity = _numbers(counts.text, _local(counts.tag))
    axis = next(
        (e for e in points if _local(e.tag) == "positions" and e.get("axis") == "2Theta"), None
    )
    if axis is None:
        raise ProcessingError('the .xrdml file has no <positions axis="2Theta">')
    parts = {_local(e.tag): e.text for e in axis}
    if "listPositions" in parts:
        two_theta = _numbers(parts["listPositions"], "listPositions")
        if len(two_theta) != len(intensity):
            raise ProcessingError(
                f"the .xrdml file lists {len(two_theta)} 2θ positions for "
                f"{len(intensity)} intensities"
            )
    elif "startPosition" in parts and "endPosition" in parts:
        start = _numbers(parts["startPosition"], "startPosition")
        end = _numbers(parts["endPosition"], "endPosition")
        if len(start) != 1 or len(end) != 1:
            raise ProcessingError("<startPosition> and <endPosition> must each hold one number")
        two_theta = np.linspace(start[0], end[0], len(intensity))
    else:
        raise ProcessingError(
            "the 2θ <positions> give neither <listPositions> nor <startPosition> and <endPosition>"
        )
    return Pattern(two_theta, intensity, "xrdml", _wavelength(root))


def _wavelength(root: Element) -> float | None:
    """``usedWavelength/kAlpha1`` in Å (a unit of nm is converted), or None."""
    alpha1 = next((e for e in root.iter() if _local(e.tag) == "kAlpha1"), None)
    if alpha1 is None:
        return None
    values = _numbers(alpha1.text, "kAlpha1")
    if len(values) != 1 or values[0] <= 0:
        raise ProcessingError("<kAlpha1> must hold one wavelength greater than 0")
    scale = {"angstrom": 1.0, "nm": 10.0, "pm": 0.01}.get(alpha1.get("unit", "Angstrom").lower())
    if scale is None:
        raise ProcessingError(f"<kAlpha1> has a unit labvault does not know: {alpha1.get('unit')}")
    return float(values[0]) * scale


def check_pattern(pattern: Pattern, min_points: int) -> None:
    """Enough points, 2θ strictly increasing and between 0 and 180 degrees."""
    two_theta = pattern.two_theta
    if len(two_theta) < min_points:
        raise ProcessingError(
            f"the pattern has {len(two_theta)} points; at least {min_points} are needed"
        )
    steps = np.diff(two_theta)
    if not np.all(steps > 0):
        where = int(np.argmax(steps <= 0))
        raise ProcessingError(
            f"2θ must increase from point to point; it goes from {two_theta[where]:g} to "
            f"{two_theta[where + 1]:g} at point {where + 2}"
        )
    if two_theta[0] <= 0 or two_theta[-1] >= 180:
        raise ProcessingError(
            f"2θ runs from {two_theta[0]:g} to {two_theta[-1]:g}; it must stay between 0 "
            "and 180 degrees"
        )
