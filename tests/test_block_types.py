"""The built-in block types, called directly with real files in a real app's file store."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import math
import statistics
import subprocess
import sys
import time
import tracemalloc
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import marshmallow as ma
import pytest
from labvault.app import create_app
from labvault.builtins.block_comment import Comment
from labvault.builtins.block_media import Media
from labvault.builtins.block_tabular import VEGA_LITE_VERSION, Tabular, decimate
from labvault.plugin import BlockFile, ProcessingError
from labvault.testing import TEST_SECRET_KEY
from PIL import Image

from tests.plugin_dists import app_settings
from tests.spreadsheets import MIB, xlsx_bomb, xlsx_bytes

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    """The hosts the built-in block types get from a real app (its file store included)."""
    app = create_app(app_settings(tmp_path_factory.mktemp("app")))
    yield app.extensions["labvault"].plugins.hosts
    app.extensions["labvault"].database.dispose()


def stored_file(hosts, name: str, raw: bytes) -> BlockFile:
    """``raw`` kept in the file store as an upload is, and the BlockFile of it."""
    content = hosts["labvault.builtins.block_tabular"].files.store(io.BytesIO(raw))
    assert content.sha256 == hashlib.sha256(raw).hexdigest()
    return BlockFile(1, name, "application/octet-stream", content.size, content.sha256)


@pytest.fixture
def store(hosts):
    """Stores bytes as labvault does: named by content, without extension."""

    def stored(name: str, content: bytes | str, encoding: str = "utf-8") -> BlockFile:
        raw = content.encode(encoding) if isinstance(content, str) else content
        return stored_file(hosts, name, raw)

    return stored


def block_type(hosts, kind):
    """Factory: ``make(**options)`` -> an instance of the built-in block type ``kind``
    with those options, and the host the app gives it."""
    host = hosts[kind.__module__]
    return lambda **options: kind(kind.name, kind.OptionsSchema().load(options), host)


@pytest.fixture
def tabular(hosts):
    return block_type(hosts, Tabular)


@pytest.fixture
def media(hosts):
    return lambda: Media("media", {}, hosts["labvault.builtins.block_media"])


def column(computed, name):
    return next(c for c in computed["columns"] if c["name"] == name)


def png_size(png: bytes) -> tuple[int, int]:
    assert png.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(png)) as image:
        image.load()
        return image.size


# --- comment -------------------------------------------------------------------------


@pytest.fixture
def comment(hosts):
    return block_type(hosts, Comment)


@pytest.fixture
def render(comment):
    block = comment()
    return lambda text: block.compute(Comment.DataSchema().load({"text": text}), [])["html"]


def test_comment_renders_markdown(render):
    html = render(
        "# Result\n\nYield **92 %** of H<sub>2</sub>O, see [notes](https://lab.example/n).\n"
        "first line\nsecond line\n\n"
        "| sample | mass |\n|:--|--:|\n| A | 1.5 |\n\n"
        "```python\nif a < b:\n    pass\n```\n\n~~wrong~~ `x = 1`"
    )

    assert "<h1>Result</h1>" in html
    assert "<strong>92 %</strong>" in html
    assert "H<sub>2</sub>O" in html
    assert '<a href="https://lab.example/n" rel="noopener noreferrer">notes</a>' in html
    assert "first line<br>\nsecond line" in html
    assert '<th style="text-align:left">sample</th>' in html
    assert '<td style="text-align:right">1.5</td>' in html
    assert '<pre><code class="language-python">if a &lt; b:\n    pass\n</code></pre>' in html
    assert "<s>wrong</s>" in html
    assert "<code>x = 1</code>" in html


XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)><circle r=1></svg>",
    "<body onload=alert(1)>",
    "<iframe src=javascript:alert(1)></iframe>",
    "<object data=javascript:alert(1)></object>",
    "<embed src=javascript:alert(1)>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](&#106;avascript:alert(1))",
    '<a href="jav&#x09;ascript:alert(1)">x</a>',
    '<a href="javascript:alert(1)" onclick="alert(1)">x</a>',
    "![x](javascript:alert(1))",
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    '<div style="background:url(javascript:alert(1))">x</div>',
    "<style>body{background:url(javascript:alert(1))}</style>",
    '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    '<form action="javascript:alert(1)"><button>go</button></form>',
    '<input autofocus onfocus="alert(1)">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    '<details open ontoggle="alert(1)">x</details>',
    '<td style="text-align:left;background:url(x)" onmouseover=alert(1)>x</td>',
    '<code class="language-x" onclick="alert(1)">x</code>',
    '<p class="evil" id="x">x</p>',
    "<<script>script>alert(1)<</script>/script>",
    '<a href="vbscript:msgbox(1)">x</a>',
]


class Elements(HTMLParser):
    """Every start tag with its attributes, as a browser would see them."""

    def __init__(self, html):
        super().__init__()
        self.found = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


SAFE_TAGS = {"p", "a", "img", "br", "code", "pre", "details", "table", "tr", "td", "button"}


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_comment_html_is_sanitized(payload, render):
    html = render(f"text before\n\n{payload}\n\nand in a paragraph: {payload}")

    assert "text before" in html
    assert "<script" not in html.lower()
    for tag, attributes in Elements(html).found:
        assert tag in SAFE_TAGS - {"button"}, html
        for name, value in attributes.items():
            assert not name.startswith("on"), html
            assert name in {"href", "src", "alt", "rel", "style", "class", "open"}, html
            if name in {"href", "src"}:
                assert value.split(":")[0].lower() in {"http", "https", "mailto", "x"}, html
            if name == "rel":
                assert value == "noopener noreferrer"
            if name == "style":
                assert value == "text-align:left", html
            if name == "class":
                assert value == "language-x", html


def test_comment_takes_only_text(render):
    assert render("") == ""
    with pytest.raises(ma.ValidationError):
        Comment.DataSchema().load({"text": "x", "html": "<b>x</b>"})


TRACKER = "https://tracker.example/pixel.gif"


def images(html):
    """The src of every image a browser would load, and every link's href."""
    found = Elements(html).found
    return (
        [attributes.get("src") for tag, attributes in found if tag == "img"],
        [attributes["href"] for tag, attributes in found if tag == "a"],
    )


def test_comment_turns_remote_images_into_links(render):
    html = render(
        f"![pixel]({TRACKER}) and ![]({TRACKER}?2)\n\n"
        f'<img src="{TRACKER}?3" alt="raw"> <IMG SRC=//tracker.example/4.gif>\n\n'
        f'<p><img src="http://tracker.example/5.gif" width="1" height="1"></p>'
    )

    loaded, links = images(html)
    assert loaded == [None, None, None]  # raw HTML images keep their alt text only
    assert links == [TRACKER, f"{TRACKER}?2"]
    assert f'<a href="{TRACKER}" rel="noopener noreferrer">pixel</a>' in html
    assert f'<a href="{TRACKER}?2" rel="noopener noreferrer">{TRACKER}?2</a>' in html
    assert '<img alt="raw">' in html


def test_comment_shows_the_images_of_its_files(comment):
    plot = BlockFile(7, "plot.png", "image/png", 1234, "0" * 64)
    text = (
        "![plot](/files/7/content)\n\n"
        '<img src="/files/7/content" width="200">\n\n'
        "![not its file](/files/8/content) ![tricked](/files/7/content?x=1)"
    )

    html = comment().compute({"text": text}, [plot])["html"]

    loaded, links = images(html)
    assert loaded == ["/files/7/content", "/files/7/content"]
    assert links == ["/files/8/content", "/files/7/content?x=1"]
    assert '<img src="/files/7/content" alt="plot">' in html
    assert '<img src="/files/7/content" width="200">' in html
    assert Comment.max_files is None
    assert set(Comment.accepted_file_extensions) == {".png", ".jpg", ".jpeg", ".gif", ".webp"}


def test_comment_shows_remote_images_where_the_deployer_allows_them(comment):
    text = f"![chart]({TRACKER})\n\n<img src='{TRACKER}?2'>"

    html = comment(remote_images=True).compute({"text": text}, [])["html"]

    assert images(html) == ([TRACKER, f"{TRACKER}?2"], [])
    assert Comment.OptionsSchema().load({}) == {"remote_images": False}
    with pytest.raises(ma.ValidationError):
        Comment.OptionsSchema().load({"remote_images": "sometimes"})


# --- tabular: reading ------------------------------------------------------------------

MEASUREMENTS = [
    ("sample", "temperature", "pressure", "measured"),
    ("A", "20.5", "1.01", "2024-03-01"),
    ("B", "21.0", "", "2024-03-02"),
    ("A", "22.25", "0.98", "2024-03-03T12:30:00"),
    ("C", "NA", "1.20", "2024-03-04"),
    ("B", "19.75", "1.05", ""),
]


def table_text(rows, delimiter=","):
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def assert_measurement_statistics(computed):
    assert computed["row_count"] == 5
    assert [(c["name"], c["type"]) for c in computed["columns"]] == [
        ("sample", "text"),
        ("temperature", "number"),
        ("pressure", "number"),
        ("measured", "date"),
    ]
    assert column(computed, "sample")["statistics"] == {"count": 5, "missing": 0, "distinct": 3}
    temperature = column(computed, "temperature")["statistics"]
    values = [20.5, 21.0, 22.25, 19.75]
    assert temperature["count"] == 4
    assert temperature["missing"] == 1
    assert temperature["min"] == 19.75
    assert temperature["max"] == 22.25
    assert temperature["mean"] == pytest.approx(statistics.fmean(values))
    assert temperature["std"] == pytest.approx(statistics.stdev(values))
    pressure = column(computed, "pressure")["statistics"]
    assert (pressure["count"], pressure["missing"]) == (4, 1)
    assert pressure["mean"] == pytest.approx(statistics.fmean([1.01, 0.98, 1.20, 1.05]))
    assert column(computed, "measured")["statistics"] == {
        "count": 4,
        "missing": 1,
        "min": "2024-03-01",
        "max": "2024-03-04",
    }
    json.dumps(computed, allow_nan=False)  # stored as JSON: no NaN or infinity anywhere


def test_tabular_reads_csv(store, tabular):
    computed = tabular().compute({}, [store("run.csv", table_text(MEASUREMENTS))])

    assert_measurement_statistics(computed)
    assert computed["delimiter"] == ","
    # default axes: the first two numeric columns
    assert (computed["x"], computed["y"]) == ("temperature", "pressure")


def test_tabular_reads_tsv(store, tabular):
    computed = tabular().compute({}, [store("run.tsv", table_text(MEASUREMENTS, "\t"))])

    assert_measurement_statistics(computed)
    assert computed["delimiter"] == "\t"


def test_tabular_reads_semicolons_and_decimal_commas(store, tabular):
    rows = [(name, value.replace(".", ","), *rest) for name, value, *rest in MEASUREMENTS]
    text = "\ufeff" + table_text(rows, ";")  # Excel's UTF-8 CSV starts with a BOM

    computed = tabular().compute({}, [store("run.csv", text)])

    assert computed["delimiter"] == ";"
    assert column(computed, "sample")["name"] == "sample"
    temperature = column(computed, "temperature")["statistics"]
    assert temperature["mean"] == pytest.approx(statistics.fmean([20.5, 21.0, 22.25, 19.75]))


def test_tabular_statistics_stay_finite_for_extreme_values(store, tabular):
    text = "huge,inf\n1.7e308,1\n1.7e308,inf\n-1.7e308,-Infinity\n"

    computed = tabular().compute({}, [store("t.csv", text)])

    huge = column(computed, "huge")["statistics"]
    assert huge["mean"] == pytest.approx(1.7e308 / 3)
    assert huge["std"] is None  # beyond the float range
    assert column(computed, "inf")["statistics"]["missing"] == 2  # infinities are missing
    json.dumps(computed, allow_nan=False)


def test_tabular_falls_back_to_the_extension_for_one_column(store, tabular):
    computed = tabular().compute({}, [store("one.tsv", "mass\n1\n2\n3\n")])

    assert computed["columns"] == [
        {
            "name": "mass",
            "type": "number",
            "statistics": {"count": 3, "missing": 0, "min": 1, "max": 3, "mean": 2.0, "std": 1.0},
        }
    ]
    assert computed["plot"] is None  # one numeric column: nothing to plot against


def test_tabular_reads_windows_1252(store, tabular):
    file = store("old.csv", "wavelength (µm);T (°C)\n1,5;20\n2,5;21\n", encoding="cp1252")

    computed = tabular().compute({}, [file])

    assert [c["name"] for c in computed["columns"]] == ["wavelength (µm)", "T (°C)"]


def test_tabular_reads_xlsx(store, tabular):
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["sample", "temperature", "pressure", "measured"])
    for sample, temperature, pressure, measured in MEASUREMENTS[1:]:
        sheet.append(
            [
                sample,
                float(temperature) if temperature != "NA" else None,
                float(pressure) if pressure else None,
                datetime.fromisoformat(measured) if measured else None,
            ]
        )
    workbook.create_sheet("ignored").append(["other", "sheet"])
    buffer = io.BytesIO()
    workbook.save(buffer)

    computed = tabular().compute({}, [store("run.xlsx", buffer.getvalue())])

    assert_measurement_statistics(computed)
    assert computed["delimiter"] is None


def test_tabular_xlsx_keeps_rows_of_zeros(store, tabular):
    from openpyxl import Workbook

    workbook = Workbook()
    for row in (["x", "y"], [0, 0], [1, 2], [None, None], [2, 0]):
        workbook.active.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)

    computed = tabular().compute({}, [store("zeros.xlsx", buffer.getvalue())])

    assert computed["row_count"] == 3  # the empty row is skipped, the row of zeros is not
    assert computed["plot"]["data"]["values"] == [
        {"x": 0, "y": 0},
        {"x": 1, "y": 2},
        {"x": 2, "y": 0},
    ]


def test_tabular_names_blank_and_repeated_headers_and_skips_blank_rows(store, tabular):
    text = "a,,a,b\n1,2,3,x\n\n,,,\n4,5,6\n"

    computed = tabular().compute({}, [store("t.csv", text)])

    assert [c["name"] for c in computed["columns"]] == ["a", "column 2", "a (2)", "b"]
    assert computed["row_count"] == 2
    assert column(computed, "b")["statistics"] == {"count": 1, "missing": 1, "distinct": 1}


def test_tabular_counts_distinct_values_of_a_column_that_turns_to_text(store, tabular):
    rows = [("value",)] + [(str(i % 10),) for i in range(5000)] + [("n/a",), ("high",), ("3",)]

    computed = tabular().compute({}, [store("t.csv", table_text(rows))])

    assert column(computed, "value") == {
        "name": "value",
        "type": "text",
        "statistics": {"count": 5002, "missing": 1, "distinct": 11},
    }


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "empty.csv is empty"),
        ("blank.csv", b"\n\n  \n", "blank.csv is empty"),
        ("photo.csv", PNG_SIGNATURE + b"\x00\x00\x00\rIHDR", "photo.csv is not a text file"),
        ("data.json", b'{"a": 1}', "data.json: a tabular block reads .csv, .tsv, .xlsx files"),
        ("broken.xlsx", b"PK\x03\x04 not really a zip", "broken.xlsx is damaged or cut short"),
        ("text.xlsx", b"a,b\n1,2\n", "text.xlsx is not a zip archive"),
        ("ragged.csv", b"a,b\n1,2\n3,4,5\n", "ragged.csv, row 3: 3 values, but the header"),
        ("huge.csv", b"a\n" + b"x" * 200_000 + b"\n", "huge.csv line 2: field larger than"),
    ],
)
def test_tabular_reports_unreadable_files(store, name, content, message, tabular):
    with pytest.raises(ProcessingError) as error:
        tabular().compute({}, [store(name, content)])

    assert str(error.value).startswith(message)


@pytest.mark.parametrize(
    ("unpacked", "refusal"),
    [
        (64 * MIB, "bomb.xlsx unpacks to 67122752 bytes, more than max_unpacked_size"),
        (12 * MIB, "bomb.xlsx: its part xl/worksheets/sheet1.xml unpacks to 12583"),
    ],
)
def test_tabular_refuses_an_xlsx_bomb_before_unpacking_it(store, unpacked, refusal, tabular):
    """The issue's bomb in small: repeated cells packed 257 times (64 MiB in 260 KB).
    Unpacked, it held a worker for 40 s (openpyxl reads about 4 MB of cells a second)."""
    bomb = store("bomb.xlsx", xlsx_bomb(unpacked))
    assert bomb.size < MIB

    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ProcessingError) as refused:
            tabular().compute({}, [bomb])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - started

    assert str(refused.value).startswith(refusal)
    if unpacked < 16 * MIB:  # under the size limit: the ratio gives it away
        assert str(refused.value).endswith("refused as a possible zip bomb")
    assert elapsed < 1, f"{elapsed:.2f} s"
    assert peak < 2 * MIB, f"peak {peak / MIB:.1f} MiB"


def test_tabular_limits_what_an_xlsx_may_unpack_to(store, tabular):
    rows = [["x", "y"], *([n, n * 0.37] for n in range(60_000))]
    file = store("run.xlsx", xlsx_bytes(rows))  # packs 5 times: no bomb, but 2 MiB of XML

    with pytest.raises(ProcessingError) as refused:
        tabular(max_unpacked_size=MIB).compute({}, [file])
    assert str(refused.value).startswith("run.xlsx unpacks to ")
    assert "more than max_unpacked_size (1048576)" in str(refused.value)

    assert tabular().compute({}, [file])["row_count"] == 60_000
    bomb = store("bomb.xlsx", xlsx_bomb(2 * MIB))
    assert tabular(max_compression_ratio=1000).compute({}, [bomb])["row_count"] > 10_000


def test_tabular_xlsx_with_an_empty_first_sheet(store, tabular):
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.create_sheet("second").append(["x", "y"])
    buffer = io.BytesIO()
    workbook.save(buffer)

    with pytest.raises(ProcessingError, match=r"^empty\.xlsx is empty"):
        tabular().compute({}, [store("empty.xlsx", buffer.getvalue())])


def test_tabular_header_only_and_no_file(store, tabular):
    computed = tabular().compute({}, [store("t.csv", "x,y\n")])
    assert computed["row_count"] == 0
    assert computed["plot"] is None
    assert column(computed, "x")["statistics"] == {"count": 0, "missing": 0, "distinct": 0}

    assert tabular().compute({}, [])["plot"] is None
    assert Tabular.max_files == 1
    assert set(Tabular.accepted_file_extensions) == {".csv", ".tsv", ".xlsx"}


# --- tabular: plot ---------------------------------------------------------------------


def test_tabular_plot_is_a_vega_lite_spec(store, tabular):
    text = table_text([("label", "wavelength [nm]", "absorbance", "a.b")] + [
        (f"s{i}", str(400 + i), str(i * i / 100), str(-i)) for i in range(50)
    ])  # fmt: skip
    file = store("uv.csv", text)

    plot = tabular().compute({}, [file])["plot"]

    assert plot["usermeta"] == {"vega_lite_version": VEGA_LITE_VERSION}
    assert plot["mark"]["type"] == "line"  # x only grows: a line
    x, y = plot["encoding"]["x"], plot["encoding"]["y"]
    # dots and brackets would mean nested fields to Vega-Lite
    assert (x["field"], x["type"], x["title"]) == (
        "wavelength \\[nm\\]",
        "quantitative",
        "wavelength [nm]",
    )
    assert (y["field"], y["type"]) == ("absorbance", "quantitative")
    values = plot["data"]["values"]
    assert len(values) == 50
    assert values[0] == {"wavelength [nm]": 400, "absorbance": 0}
    assert values[-1] == {"wavelength [nm]": 449, "absorbance": 24.01}

    chosen = tabular().compute({"x": "a.b", "y": "wavelength [nm]"}, [file])
    assert (chosen["x"], chosen["y"]) == ("a.b", "wavelength [nm]")
    assert chosen["plot"]["encoding"]["x"]["field"] == "a\\.b"
    assert chosen["plot"]["mark"]["type"] == "line"


def test_tabular_scatter_and_dates(store, tabular):
    text = "when,value,noise\n2024-01-02,1,5\n2024-01-01,2,3\n2024-01-03,3,9\n"

    computed = tabular().compute({}, [store("t.csv", text)])

    assert (computed["x"], computed["y"]) == ("when", "value")
    plot = computed["plot"]
    assert plot["encoding"]["x"]["type"] == "temporal"
    assert plot["mark"]["type"] == "point"  # x goes back and forth: points, not a line
    assert plot["data"]["values"][0] == {"when": "2024-01-02T00:00:00", "value": 1}

    only_y = tabular().compute({"y": "noise"}, [store("t.csv", text)])
    assert (only_y["x"], only_y["y"]) == ("when", "noise")
    only_x = tabular().compute({"x": "noise"}, [store("t.csv", text)])
    assert (only_x["x"], only_x["y"]) == ("noise", "value")


def test_tabular_unknown_or_text_axis_columns(store, tabular):
    file = store("t.csv", table_text(MEASUREMENTS))

    with pytest.raises(ProcessingError) as unknown:
        tabular().compute({"x": "temp"}, [file])
    assert str(unknown.value) == (
        "x: no column 'temp'; available columns: sample, temperature, pressure, measured"
    )
    with pytest.raises(ProcessingError, match="y: column 'sample' does not hold numbers"):
        tabular().compute({"y": "sample"}, [file])
    with pytest.raises(ma.ValidationError):
        Tabular.DataSchema().load({"x": "a", "z": "b"})


def big_csv(rows: int) -> str:
    lines = ["time,signal,label"]
    for i in range(rows):
        signal = math.sin(i / 5000) + (0.5 * ((i * 7919) % 13 - 6) / 6)
        if i == 71_234:
            signal = 25.0  # one spike that decimation must keep
        lines.append(f"{i / 100},{signal:.6f},{'ab'[i % 2]}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def big_table(hosts):
    return stored_file(hosts, "big.csv", big_csv(100_000).encode())


def test_tabular_downsamples_large_files(big_table, tabular):
    started = time.perf_counter()
    computed = tabular().compute({}, [big_table])
    elapsed = time.perf_counter() - started

    assert computed["row_count"] == 100_000
    assert computed["plot_downsampled_from"] == 100_000
    values = computed["plot"]["data"]["values"]
    assert 4900 <= len(values) <= 5000
    assert values[0] == {"time": 0, "signal": pytest.approx(-0.5)}
    assert values[-1]["time"] == 999.99
    times = [v["time"] for v in values]
    assert times == sorted(times)
    signal = column(computed, "signal")["statistics"]
    assert max(v["signal"] for v in values) == signal["max"] == 25.0
    assert min(v["signal"] for v in values) == signal["min"]
    assert len(json.dumps(computed)) < 300_000
    assert elapsed < 5, f"100,000 rows took {elapsed:.2f} s"

    small = tabular(max_plot_points=100).compute({}, [big_table])
    assert len(small["plot"]["data"]["values"]) <= 100
    assert small["plot"]["data"]["values"][-1] == values[-1]


def test_decimate_keeps_the_ends_and_the_extremes():
    points = [(float(i), float((i * 37) % 101)) for i in range(1000)]

    kept = decimate(points, 10)

    assert len(kept) == 10
    assert (kept[0], kept[-1]) == (points[0], points[-1])
    assert kept == sorted(kept)
    assert decimate(points[:10], 10) == points[:10]


def test_tabular_option_validation():
    assert Tabular.OptionsSchema().load({}) == {
        "max_plot_points": 5000,
        "max_unpacked_size": 16 * MIB,
        "max_compression_ratio": 200,
    }
    for wrong in (
        {"max_plot_points": 9},
        {"max_unpacked_size": 1000},
        {"max_compression_ratio": 9},
    ):
        with pytest.raises(ma.ValidationError):
            Tabular.OptionsSchema().load(wrong)


def test_tabular_render_png(store, big_table, tabular):
    block = tabular()
    computed = block.compute({}, [big_table])

    started = time.perf_counter()
    png = block.render_png({}, computed, [big_table])
    elapsed = time.perf_counter() - started

    assert png is not None
    assert png_size(png) == (800, 450)
    assert elapsed < 10

    dated = store("d.csv", "when,value\n2024-01-02,1\n2024-01-01,2\n")
    dated_png = block.render_png({}, block.compute({}, [dated]), [dated])
    assert dated_png is not None
    assert png_size(dated_png) == (800, 450)

    single = store("one.csv", "mass\n1\n2\n")
    assert block.render_png({}, block.compute({}, [single]), [single]) is None
    stale = {**computed, "x": "renamed"}  # stored by an older version, say
    with pytest.raises(ProcessingError, match=r"^the plot could not be drawn"):
        block.render_png({}, stale, [big_table])


# --- media -----------------------------------------------------------------------------


def image_bytes(size, image_format, mode="RGB", **save):
    image = Image.new(mode, size)
    image.putpixel((0, 0), 255 if mode in {"L", "P", "1"} else (255,) * len(image.getbands()))
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **save)
    return buffer.getvalue()


def thumbnail_of(computed):
    prefix = "data:image/png;base64,"
    assert computed["thumbnail"].startswith(prefix)
    png = base64.b64decode(computed["thumbnail"].removeprefix(prefix))
    return png_size(png)


@pytest.mark.parametrize(
    ("name", "image_format", "mode", "size", "thumbnail"),
    [
        ("wide.png", "PNG", "RGBA", (1200, 300), (256, 64)),
        ("photo.jpg", "JPEG", "RGB", (600, 800), (192, 256)),
        ("photo.jpeg", "JPEG", "L", (100, 50), (100, 50)),
        ("anim.gif", "GIF", "P", (512, 512), (256, 256)),
        ("shot.webp", "WEBP", "RGB", (300, 200), (256, 171)),
        ("scan.tif", "TIFF", "RGB", (257, 10), (256, 10)),
        ("scan.tiff", "TIFF", "I;16", (640, 480), (256, 192)),
        ("old.bmp", "BMP", "RGB", (40, 30), (40, 30)),
    ],
)
def test_media_reads_images(store, name, image_format, mode, size, thumbnail, media):
    file = store(name, image_bytes(size, image_format, mode))

    computed = media().compute({}, [file])

    assert (computed["width"], computed["height"]) == size
    assert computed["format"] == image_format
    assert thumbnail_of(computed) == thumbnail
    json.dumps(computed)


def test_media_stretches_16_bit_images_for_display(store, media):
    image = Image.new("I;16", (200, 100))
    for x in range(200):
        for y in range(100):
            image.putpixel((x, y), 1000 + x * 10)  # all far below 8-bit white
    buffer = io.BytesIO()
    image.save(buffer, format="TIFF")

    computed = media().compute({}, [store("deep.tif", buffer.getvalue())])

    png = base64.b64decode(computed["thumbnail"].split(",", 1)[1])
    with Image.open(io.BytesIO(png)) as thumbnail:
        assert thumbnail.mode == "L"
        low, high = thumbnail.getextrema()
    assert low < 10 and high > 245


def test_media_reports_the_size_as_shown_for_rotated_photos(store, media):
    image = Image.new("RGB", (300, 100))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90° when shown
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)

    computed = media().compute({}, [store("phone.jpg", buffer.getvalue())])

    assert (computed["width"], computed["height"]) == (100, 300)
    assert thumbnail_of(computed) == (85, 256)  # upright too


def test_media_render_png_is_a_larger_preview(store, media):
    file = store("scan.tif", image_bytes((3000, 1500), "TIFF"))
    block = media()

    png = block.render_png({}, block.compute({}, [file]), [file])

    assert png is not None
    assert png_size(png) == (1024, 512)
    assert block.render_png({}, {}, []) is None
    assert block.compute({}, []) == {}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.png", b"", "empty.png is not an image in a supported format"),
        ("notes.png", b"just some text", "notes.png is not an image in a supported format"),
        ("cut.png", image_bytes((400, 400), "PNG")[:300], "cut.png is damaged or truncated"),
        ("vector.jpg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "vector.jpg is not an"),
        ("scan.pdf", b"%PDF-1.4", "scan.pdf: a media block shows .png, .jpg"),
        ("icon.ico", image_bytes((16, 16), "ICO"), "icon.ico: a media block shows"),
    ],
)
def test_media_reports_unreadable_files(store, name, content, message, media):
    with pytest.raises(ProcessingError) as error:
        media().compute({}, [store(name, content)])

    assert str(error.value).startswith(message)


def test_media_truncated_jpeg(store, media):
    photo = image_bytes((800, 600), "JPEG", quality=95)

    with pytest.raises(ProcessingError, match=r"^cut\.jpg is damaged or truncated"):
        media().compute({}, [store("cut.jpg", photo[: len(photo) // 2])])


@pytest.mark.parametrize("pixels", [100 * 100, 100 * 100 // 2 - 1])
def test_media_refuses_decompression_bombs(store, monkeypatch, pixels, media):
    # more than the limit only warns in Pillow, more than twice raises; both are refused
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", pixels)
    file = store("bomb.png", image_bytes((101, 100), "PNG", mode="1"))

    with pytest.raises(ProcessingError, match=r"^bomb\.png is too large to open"):
        media().compute({}, [file])


# --- startup cost ----------------------------------------------------------------------


def test_creating_the_app_imports_no_file_reading_library(tmp_path):
    settings = {
        "IDENTIFIER_PREFIX": "test",
        "SECRET_KEY": TEST_SECRET_KEY,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'labvault.db'}",
    }
    script = (
        "import json, sys\n"
        "from labvault.app import create_app\n"
        "from labvault.registry import BLOCK_TYPES\n"
        "app = create_app(json.loads(sys.argv[1]))\n"
        "types = sorted(app.extensions['labvault'].registry.types_of(BLOCK_TYPES))\n"
        "heavy = ('matplotlib', 'openpyxl', 'PIL', 'numpy', 'markdown_it', 'nh3')\n"
        "print(json.dumps([types, sorted(m for m in sys.modules if m.split('.')[0] in heavy)]))"
    )

    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(settings)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent,
    )

    types, imported = json.loads(result.stdout)
    assert {"comment", "media", "tabular"} <= set(types)
    assert imported == []
