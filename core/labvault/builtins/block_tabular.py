"""The ``tabular`` block type: a CSV, TSV or XLSX table, its column statistics and a plot.

The file is read by :mod:`labvault.builtins.tables`. ``computed.plot`` is a Vega-Lite v5
specification of ``data.y`` against ``data.x`` (by default the first number or date
column against the next number column) with the points inline, decimated to at most
``max_plot_points``: the smallest and largest y of each bucket, plus the first and last
point, so peaks survive. ``plot.png`` draws the same points with matplotlib, imported
only then.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from datetime import datetime
from itertools import pairwise
from typing import Any

import marshmallow as ma

from labvault.builtins.tables import (
    DATE,
    DELIMITED_EXTENSIONS,
    NUMBER,
    SPREADSHEET_EXTENSION,
    Column,
    Table,
    moment,
    plain,
    read_table,
)
from labvault.plugin import (
    DEFAULT_MAX_COMPRESSION_RATIO,
    BlockFile,
    BlockType,
    ProcessingError,
    hookimpl,
)

MIB = 1024**2
#: What an .xlsx workbook may unpack to. The block is computed while its request waits,
#: and openpyxl reads 8 MB of numbers a second, but only about 1 MB of the costliest
#: sheet (empty cells): 16 MiB, some 350,000 numbers read in 2 s, keeps that one inside
#: gunicorn's 30 s worker timeout (15-21 s measured). A CSV reads 20 times faster.
XLSX_MAX_UNPACKED_SIZE = 16 * MIB

#: The specification follows Vega-Lite 5. Its "$schema" address is left out on purpose:
#: it is optional for Vega-Lite renderers, and the core names no outside host.
VEGA_LITE_VERSION = "5"


class TabularOptions(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    max_plot_points = ma.fields.Integer(load_default=5000, validate=ma.validate.Range(min=10))
    max_unpacked_size = ma.fields.Integer(
        load_default=XLSX_MAX_UNPACKED_SIZE,
        validate=ma.validate.Range(min=MIB),
        metadata={"description": "bytes an .xlsx workbook may unpack to (its parts together)"},
    )
    max_compression_ratio = ma.fields.Integer(
        load_default=DEFAULT_MAX_COMPRESSION_RATIO,
        validate=ma.validate.Range(min=10),
        metadata={"description": "how much larger than packed a part of 1 MiB or more may be"},
    )


class TabularData(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    x = ma.fields.String(load_default=None, allow_none=True)
    y = ma.fields.String(load_default=None, allow_none=True)


def _field(name: str) -> str:
    """A column name as a Vega-Lite field, where dots and brackets mean nesting."""
    for special in "\\.[]":
        name = name.replace(special, "\\" + special)
    return name


def decimate(points: list[tuple[float, float]], limit: int) -> list[tuple[float, float]]:
    """At most ``limit`` of ``points``, in order: the first, the last, and the lowest and
    highest y of each of ``(limit - 2) // 2`` equal runs in between."""
    if len(points) <= limit:
        return points
    ys = [y for _, y in points]
    buckets = (limit - 2) // 2
    inner = len(points) - 2
    kept = [points[0]]
    for bucket in range(buckets):
        start = 1 + bucket * inner // buckets
        end = 1 + (bucket + 1) * inner // buckets
        run = ys[start:end]
        low = start + run.index(min(run))
        high = start + run.index(max(run))
        kept += [points[i] for i in sorted({low, high})]
    kept.append(points[-1])
    return kept


def _choose_axes(table: Table, data: Mapping[str, Any]) -> tuple[Column, Column] | None:
    available = ", ".join(c.name for c in table.columns)
    plottable = [c for c in table.columns if c.kind in (NUMBER, DATE)]
    chosen: list[Column | None] = []
    for axis in ("x", "y"):
        name = data.get(axis)
        if name is None:
            chosen.append(None)
            continue
        column = table.column(name)
        if column is None:
            raise ProcessingError(f"{axis}: no column {name!r}; available columns: {available}")
        if column not in plottable:
            choices = ", ".join(c.name for c in plottable) or "none"
            raise ProcessingError(
                f"{axis}: column {name!r} does not hold numbers or dates; columns that can "
                f"be plotted: {choices}"
            )
        chosen.append(column)
    x, y = chosen
    if x is None:
        x = next((c for c in plottable if c is not y), None)
    if y is None:
        y = next((c for c in plottable if c is not x and c.kind == NUMBER), None)
    return (x, y) if x is not None and y is not None else None


def _plot(x: Column, y: Column, file_name: str, limit: int) -> tuple[dict[str, Any], int | None]:
    """The Vega-Lite specification, and the number of points before decimation (or None)."""
    assert x.values is not None and y.values is not None
    points = [(a, b) for a, b in zip(x.values, y.values, strict=True) if a == a and b == b]
    xs = [a for a, _ in points]
    ordered = all(a <= b for a, b in pairwise(xs)) or all(a >= b for a, b in pairwise(xs))
    shown = decimate(points, limit)
    kinds = {NUMBER: "quantitative", DATE: "temporal"}

    def as_json(column: Column, value: float) -> float | int | str:
        return moment(value).isoformat() if column.kind == DATE else plain(value)

    def channel(column: Column) -> dict[str, Any]:
        encoding: dict[str, Any] = {
            "field": _field(column.name),
            "type": kinds[column.kind or NUMBER],
            "title": column.name,
        }
        if column.kind == NUMBER:
            encoding["scale"] = {"zero": False}
        return encoding

    spec = {
        "usermeta": {"vega_lite_version": VEGA_LITE_VERSION},
        "description": f"{y.name} against {x.name} from {file_name}",
        "data": {"values": [{x.name: as_json(x, a), y.name: as_json(y, b)} for a, b in shown]},
        "mark": {"type": "line" if ordered else "point", "tooltip": True},
        "encoding": {"x": channel(x), "y": channel(y)},
    }
    return spec, (len(points) if len(shown) < len(points) else None)


class Tabular(BlockType):
    name = "tabular"
    description = "A table from a CSV, TSV or XLSX file: column statistics and an x/y plot."
    accepted_file_extensions = (*DELIMITED_EXTENSIONS, SPREADSHEET_EXTENSION)
    max_files = 1
    OptionsSchema = TabularOptions
    DataSchema = TabularData

    def compute(self, data: Mapping[str, Any], files: list[BlockFile]) -> dict[str, Any]:
        if not files:  # nothing to show yet; the client attaches the file later
            return {
                "columns": [],
                "row_count": 0,
                "delimiter": None,
                "x": None,
                "y": None,
                "plot": None,
                "plot_downsampled_from": None,
            }
        if len(files) > 1:
            raise ProcessingError(f"a tabular block reads one file, not {len(files)}")
        file = files[0]
        if file.extension not in self.accepted_file_extensions:
            raise ProcessingError(
                f"{file.name}: a tabular block reads "
                f"{', '.join(self.accepted_file_extensions)} files"
            )
        with self.host.files.open(file.sha256) as content:
            table, delimiter = read_table(file, content, self._zip_limits())
        axes = _choose_axes(table, data)
        plot, downsampled_from = (
            _plot(*axes, file.name, self.options["max_plot_points"]) if axes else (None, None)
        )
        return {
            "columns": [column.summary(table.row_count) for column in table.columns],
            "row_count": table.row_count,
            "delimiter": delimiter,
            "x": axes[0].name if axes else None,
            "y": axes[1].name if axes else None,
            "plot": plot,
            "plot_downsampled_from": downsampled_from,
        }

    def _zip_limits(self) -> dict[str, int]:
        return {key: self.options[key] for key in ("max_unpacked_size", "max_compression_ratio")}

    def render_png(
        self, data: Mapping[str, Any], computed: Mapping[str, Any], files: list[BlockFile]
    ) -> bytes | None:
        plot, x, y = computed.get("plot"), computed.get("x"), computed.get("y")
        if not plot or x is None or y is None:
            return None
        try:
            return draw_png(plot, x, y)
        except Exception as exc:  # stored points matplotlib cannot draw: the user's answer
            raise ProcessingError(f"the plot could not be drawn: {exc}") from exc


def draw_png(plot: Mapping[str, Any], x: str, y: str) -> bytes:
    """The points of a specification made by this module, drawn by matplotlib (Agg)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    values: Iterable[Mapping[str, Any]] = plot["data"]["values"]
    encoding = plot["encoding"]
    columns: list[list[Any]] = [[], []]
    for axis, name, column in zip(("x", "y"), (x, y), columns, strict=True):
        temporal = encoding[axis]["type"] == "temporal"
        column += [datetime.fromisoformat(v[name]) if temporal else v[name] for v in values]

    figure = Figure(figsize=(8, 4.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    if plot["mark"]["type"] == "line":
        axes.plot(columns[0], columns[1], linewidth=1)
    else:
        axes.scatter(columns[0], columns[1], s=4)
    axes.set_xlabel(x)
    axes.set_ylabel(y)
    axes.grid(alpha=0.3)
    if encoding["x"]["type"] == "temporal":
        figure.autofmt_xdate()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


@hookimpl
def labvault_block_types() -> list[type[BlockType]]:
    return [Tabular]
