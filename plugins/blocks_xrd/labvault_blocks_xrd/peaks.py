"""Diffraction arithmetic and peak finding.

For a wavelength λ and a scattering angle 2θ, Bragg's law gives the spacing of the
lattice planes, d = λ / (2 sin θ), and the scattering vector's length Q = 4π sin θ / λ
(= 2π / d). Peaks are found with :func:`scipy.signal.find_peaks` by their prominence
(their height above the surrounding background); each position is then refined by a
parabola fitted by least squares through the points of the peak's top (at least three,
those above three quarters of its prominence), which places it between two measured
points, and its FWHM is the width at half its prominence (as ``find_peaks`` measures it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

# NumPy is imported by the first pattern analysed, not when the plugin is enabled
if TYPE_CHECKING:
    import numpy as np

#: Cu K-alpha1, the most common laboratory source (Å).
CU_K_ALPHA1 = 1.5406


def d_spacing(two_theta: np.ndarray | float, wavelength: float) -> np.ndarray | float:
    """d (Å) = λ / (2 sin θ), for 2θ in degrees."""
    import numpy as np

    return wavelength / (2 * np.sin(np.radians(two_theta) / 2))


def scattering_vector(two_theta: np.ndarray | float, wavelength: float) -> np.ndarray | float:
    """Q (1/Å) = 4π sin θ / λ, for 2θ in degrees."""
    import numpy as np

    return 4 * np.pi * np.sin(np.radians(two_theta) / 2) / wavelength


@dataclass(frozen=True)
class PeakSearch:
    """How peaks are told from noise (the block type's options)."""

    #: Least prominence, as a fraction of the pattern's intensity range (max - min).
    min_prominence: float = 0.03
    #: Least distance between two peaks, in degrees 2θ.
    min_distance: float = 0.1
    #: Least width at half prominence, in degrees 2θ (narrower is a spike of noise).
    min_width: float = 0.03
    #: At most this many peaks are kept, the most prominent.
    max_peaks: int = 50


def find(
    two_theta: np.ndarray, intensity: np.ndarray, wavelength: float, search: PeakSearch
) -> list[dict[str, Any]]:
    """The peaks of a pattern (2θ increasing), by position: 2θ, d, Q, height, FWHM and
    prominence; heights are intensities at the refined position, FWHM in degrees 2θ."""
    import numpy as np

    span = float(np.ptp(intensity))
    if span == 0:
        return []
    step = float(np.median(np.diff(two_theta)))
    # imported here: scipy.signal takes about a second to import, and a server or CLI
    # command that enables this plugin should not pay it before a pattern is analysed
    from scipy.signal import find_peaks

    found, properties = find_peaks(
        intensity,
        prominence=search.min_prominence * span,
        distance=max(1, round(search.min_distance / step)),
        width=search.min_width / step,  # also measures each FWHM (at half prominence)
    )
    prominences = properties["prominences"]
    keep = np.sort(np.argsort(prominences)[::-1][: search.max_peaks])
    found, prominences = found[keep], prominences[keep]
    index = np.arange(len(two_theta))
    left = np.interp(properties["left_ips"][keep], index, two_theta)
    right = np.interp(properties["right_ips"][keep], index, two_theta)
    peaks = []
    for i, peak in enumerate(found):
        position, height = _refine(two_theta, intensity, int(peak), prominences[i])
        peaks.append(
            {
                "two_theta": round(position, 5),
                "d": round(float(d_spacing(position, wavelength)), 5),
                "q": round(float(scattering_vector(position, wavelength)), 5),
                "height": round(height, 6),
                "fwhm": round(float(right[i] - left[i]), 5),
                "prominence": round(float(prominences[i]), 6),
            }
        )
    return peaks


def _refine(
    two_theta: np.ndarray, intensity: np.ndarray, peak: int, prominence: float
) -> tuple[float, float]:
    """The vertex of a parabola through the peak's top points, or the highest point if the
    fit does not open downwards or its vertex leaves those points."""
    import numpy as np

    top = intensity[peak] - prominence / 4
    start, end = peak, peak
    while start > 0 and intensity[start - 1] >= top:
        start -= 1
    while end < len(intensity) - 1 and intensity[end + 1] >= top:
        end += 1
    start, end = max(0, min(start, peak - 1)), min(len(intensity) - 1, max(end, peak + 1))
    x, y = two_theta[start : end + 1], intensity[start : end + 1]
    if len(x) < 3:
        return float(two_theta[peak]), float(intensity[peak])
    centre = float(two_theta[peak])
    a, b, c = np.polyfit(x - centre, y, 2)
    if a >= 0:
        return centre, float(intensity[peak])
    offset = -b / (2 * a)
    if not x[0] - centre <= offset <= x[-1] - centre:
        return centre, float(intensity[peak])
    return centre + float(offset), float(c - b * b / (4 * a))
