"""The ``xrd`` block type: a powder pattern's peaks, with d and Q, a Vega-Lite plot and a PNG."""

from __future__ import annotations

import io
from collections.abc import Mapping
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import marshmallow as ma
from labvault.plugin import BlockFile, BlockType, ProcessingError

from labvault_blocks_xrd.peaks import CU_K_ALPHA1, PeakSearch, find

# NumPy (and the readers built on it) are imported by the first pattern analysed, not
# when the plugin is enabled: a server or command that analyses none does without
if TYPE_CHECKING:
    import numpy as np

#: The specification follows Vega-Lite 5 (its "$schema" address is left out, as the
#: core's tabular block type does: it is optional, and no outside host is named).
VEGA_LITE_VERSION = "5"


class XRDOptions(ma.Schema):
    """``BLOCK_TYPES = {"xrd": {...}}``; the README says what each one does."""

    class Meta:
        unknown = ma.RAISE

    wavelength = ma.fields.Float(
        load_default=CU_K_ALPHA1,
        validate=ma.validate.Range(min=0.01, max=20),
        metadata={"description": "Å, for files that state none (default Cu K-alpha1)"},
    )
    force_wavelength = ma.fields.Boolean(
        load_default=False,
        metadata={"description": "use `wavelength` even where a file states its own"},
    )
    min_prominence = ma.fields.Float(
        load_default=PeakSearch.min_prominence,
        validate=ma.validate.Range(min=0, max=1, min_inclusive=False),
        metadata={"description": "least peak prominence, a fraction of the intensity range"},
    )
    min_distance = ma.fields.Float(
        load_default=PeakSearch.min_distance,
        validate=ma.validate.Range(min=0),
        metadata={"description": "least distance between two peaks, degrees 2θ"},
    )
    min_width = ma.fields.Float(
        load_default=PeakSearch.min_width,
        validate=ma.validate.Range(min=0),
        metadata={"description": "least FWHM of a peak, degrees 2θ (narrower: noise)"},
    )
    max_peaks = ma.fields.Integer(
        load_default=PeakSearch.max_peaks, validate=ma.validate.Range(min=1, max=1000)
    )
    min_points = ma.fields.Integer(load_default=20, validate=ma.validate.Range(min=5))
    max_plot_points = ma.fields.Integer(
        load_default=5000, validate=ma.validate.Range(min=10, max=100_000)
    )


class XRDData(ma.Schema):
    """A block's own data: the wavelength of its file, where the user knows it."""

    class Meta:
        unknown = ma.RAISE

    wavelength = ma.fields.Float(
        load_default=None,
        allow_none=True,
        validate=ma.validate.Range(min=0.01, max=20),
        metadata={"description": "Å; wins over the file's and the default, not a forced one"},
    )


class XRD(BlockType):
    name = "xrd"
    description = (
        "A powder X-ray diffraction pattern (.xy, .xye, .xrdml): its peaks with 2θ, d, Q, "
        "height and FWHM, and a plot."
    )
    accepted_file_extensions = (".xy", ".xye", ".xrdml")
    max_files = 1
    OptionsSchema = XRDOptions
    DataSchema = XRDData

    def compute(self, data: Mapping[str, Any], files: list[BlockFile]) -> dict[str, Any]:
        if not files:  # the client attaches the file later
            return {"file": None, "peaks": [], "wavelength": None, "plot": None}
        from labvault_blocks_xrd.reading import read_pattern

        file = files[0]
        with self.host.files.open(file.sha256) as stream:
            raw = stream.read()
        pattern = read_pattern(file.name, raw, self.options["min_points"])
        wavelength, source = self._wavelength(data.get("wavelength"), pattern.wavelength)
        search = PeakSearch(**{key: self.options[key] for key in PeakSearch.__dataclass_fields__})
        peaks = find(pattern.two_theta, pattern.intensity, wavelength, search)
        return {
            "file": file.name,
            "format": pattern.format,
            "points": len(pattern.two_theta),
            "two_theta_range": [float(pattern.two_theta[0]), float(pattern.two_theta[-1])],
            "wavelength": wavelength,
            "wavelength_source": source,
            "peaks": peaks,
            "plot": vega_lite(
                pattern.two_theta,
                pattern.intensity,
                peaks,
                f"{file.name}, λ = {wavelength:g} Å",
                self.options["max_plot_points"],
            ),
        }

    def _wavelength(self, given: float | None, stated: float | None) -> tuple[float, str]:
        """The wavelength used and where it came from: the deployer's when forced
        ("options"), else the block's ("data"), the file's ("file") or the default
        ("options")."""
        if self.options["force_wavelength"]:
            return self.options["wavelength"], "options"
        if given is not None:
            return given, "data"
        if stated is not None:
            return stated, "file"
        return self.options["wavelength"], "options"

    def render_png(
        self, data: Mapping[str, Any], computed: Mapping[str, Any], files: list[BlockFile]
    ) -> bytes | None:
        if not computed.get("plot"):
            return None
        try:
            return draw_png(computed)
        except Exception as exc:  # stored values matplotlib cannot draw: the user's answer
            raise ProcessingError(f"the plot could not be drawn: {exc}") from exc


def decimate(two_theta: np.ndarray, intensity: np.ndarray, limit: int) -> np.ndarray:
    """Indices of at most ``limit`` points, in order: the first, the last and the lowest
    and highest point of equal runs in between, so that peaks survive."""
    import numpy as np

    count = len(two_theta)
    if count <= limit:
        return np.arange(count)
    kept = {0, count - 1}
    edges = np.linspace(1, count - 1, (limit - 2) // 2 + 1).astype(int)
    for start, end in pairwise(edges):
        if end > start:
            run = intensity[start:end]
            kept |= {start + int(np.argmin(run)), start + int(np.argmax(run))}
    return np.array(sorted(kept))


def vega_lite(
    two_theta: np.ndarray,
    intensity: np.ndarray,
    peaks: list[dict[str, Any]],
    description: str,
    limit: int,
) -> dict[str, Any]:
    """A Vega-Lite specification: intensity against 2θ as a line, the peaks as marks
    (with d, Q and FWHM in their tooltips)."""
    shown = decimate(two_theta, intensity, limit)
    x = {"field": "two_theta", "type": "quantitative", "title": "2θ (°)", "scale": {"zero": False}}
    y = {"field": "intensity", "type": "quantitative", "title": "intensity"}
    return {
        "usermeta": {"vega_lite_version": VEGA_LITE_VERSION},
        "description": description,
        "layer": [
            {
                "data": {
                    "values": [
                        {"two_theta": float(two_theta[i]), "intensity": float(intensity[i])}
                        for i in shown
                    ]
                },
                "mark": {"type": "line", "tooltip": True},
                "encoding": {"x": x, "y": y},
            },
            {
                "data": {
                    "values": [
                        {k: p[k] for k in ("two_theta", "d", "q", "fwhm")}
                        | {"intensity": p["height"]}
                        for p in peaks
                    ]
                },
                "mark": {"type": "point", "shape": "triangle-down", "filled": True, "yOffset": -6},
                "encoding": {
                    "x": x,
                    "y": y,
                    "tooltip": [
                        {"field": "two_theta", "title": "2θ (°)"},
                        {"field": "d", "title": "d (Å)"},
                        {"field": "q", "title": "Q (1/Å)"},
                        {"field": "fwhm", "title": "FWHM (°)"},
                    ],
                },
            },
        ],
    }


def draw_png(computed: Mapping[str, Any]) -> bytes:
    """The stored plot drawn by matplotlib (Agg): the pattern, its peaks marked and
    labelled with their d-spacing."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    line, marks = (layer["data"]["values"] for layer in computed["plot"]["layer"])
    figure = Figure(figsize=(8, 4.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.plot([p["two_theta"] for p in line], [p["intensity"] for p in line], linewidth=0.8)
    axes.plot(
        [p["two_theta"] for p in marks],
        [p["intensity"] for p in marks],
        "v",
        color="tab:red",
        markersize=5,
    )
    for peak in marks:
        axes.annotate(
            f"{peak['d']:.4f} Å",
            (peak["two_theta"], peak["intensity"]),
            textcoords="offset points",
            xytext=(0, 8),
            ha="center",
            fontsize=7,
            rotation=90,
        )
    axes.set_xlabel("2θ (°)")
    axes.set_ylabel("intensity")
    axes.set_title(f"{computed['file']}, λ = {computed['wavelength']:g} Å", fontsize=9)
    axes.margins(y=0.15)
    axes.grid(alpha=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
