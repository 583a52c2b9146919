"""Powder patterns made from known peak positions, written as .xy, .xye and .xrdml.

Silicon (diamond structure, a = 5.4309 Å): the reflections 111, 220, 311, 400 and 331,
pseudo-Voigt peaks on a sloping background with Gaussian noise, at Cu K-alpha1.
"""

from __future__ import annotations

import math

import numpy as np

SI_A = 5.4309
SI_REFLECTIONS = {
    (1, 1, 1): 1.0,
    (2, 2, 0): 0.55,
    (3, 1, 1): 0.32,
    (4, 0, 0): 0.07,
    (3, 3, 1): 0.11,
}
CU_K_ALPHA1 = 1.5406
MO_K_ALPHA1 = 0.70930


def si_d(hkl: tuple[int, int, int]) -> float:
    """The d-spacing of a reflection of cubic silicon: a / sqrt(h² + k² + l²)."""
    return SI_A / math.sqrt(sum(i * i for i in hkl))


def two_theta(d: float, wavelength: float) -> float:
    return math.degrees(2 * math.asin(wavelength / (2 * d)))


def silicon(
    wavelength: float = CU_K_ALPHA1,
    start: float = 20.0,
    end: float = 80.0,
    step: float = 0.02,
    fwhm: float = 0.12,
    seed: int = 24,
) -> tuple[np.ndarray, np.ndarray]:
    """2θ and intensity of silicon's pattern (pseudo-Voigt, half Lorentzian), noisy."""
    x = np.arange(start, end + step / 2, step)
    y = 200 + 150 * np.exp(-(x - start) / 30)  # background, falling with angle
    for hkl, scale in SI_REFLECTIONS.items():
        centre = two_theta(si_d(hkl), wavelength)
        u = (x - centre) / (fwhm / 2)
        gauss = np.exp(-math.log(2) * u**2)
        lorentz = 1 / (1 + u**2)
        y += 10_000 * scale * (0.5 * gauss + 0.5 * lorentz)
    rng = np.random.default_rng(seed)
    return x, y + rng.normal(0, 10, len(x))


def xy_bytes(x: np.ndarray, y: np.ndarray, errors: bool = False, header: bool = True) -> bytes:
    lines = ["# silicon, made by the tests", "2Theta Intensity" + (" Error" if errors else "")]
    if not header:
        lines = []
    for a, b in zip(x, y, strict=True):
        lines.append(f"{a:.4f} {b:.3f}" + (f" {math.sqrt(abs(b)):.3f}" if errors else ""))
    return ("\n".join(lines) + "\n").encode()


def xrdml_bytes(
    x: np.ndarray,
    y: np.ndarray,
    wavelength: float | None = CU_K_ALPHA1,
    listed: bool = False,
    counts: bool = False,
) -> bytes:
    """An .xrdml file as PANalytical's Data Collector writes one (version 1.5)."""
    used = (
        f'<usedWavelength intended="K-Alpha 1"><kAlpha1 unit="Angstrom">{wavelength}</kAlpha1>'
        '<kAlpha2 unit="Angstrom">1.544426</kAlpha2></usedWavelength>'
        if wavelength is not None
        else ""
    )
    if listed:
        positions = "<listPositions>" + " ".join(f"{a:.5f}" for a in x) + "</listPositions>"
    else:
        positions = (
            f"<startPosition>{x[0]:.5f}</startPosition><endPosition>{x[-1]:.5f}</endPosition>"
        )
    tag = "counts" if counts else "intensities"
    values = " ".join(f"{b:.2f}" for b in y)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<xrdMeasurements xmlns="http://www.xrdml.com/XRDMeasurement/1.5" status="Completed">
  <xrdMeasurement measurementType="Scan" status="Completed">
    {used}
    <scan appendNumber="0" mode="Continuous" scanAxis="Gonio" status="Completed">
      <dataPoints>
        <positions axis="2Theta" unit="deg">{positions}</positions>
        <positions axis="Omega" unit="deg"><startPosition>10</startPosition>
          <endPosition>40</endPosition></positions>
        <commonCountingTime unit="seconds">1.0</commonCountingTime>
        <{tag} unit="counts">{values}</{tag}>
      </dataPoints>
    </scan>
  </xrdMeasurement>
</xrdMeasurements>
""".encode()
