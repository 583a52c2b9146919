"""The xrd block type through the API: patterns made from silicon's known reflections,
uploaded to an item as a user would, and read back as the block's peaks and plot."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from blocks_xrd_patterns import (
    CU_K_ALPHA1,
    MO_K_ALPHA1,
    SI_REFLECTIONS,
    si_d,
    silicon,
    two_theta,
    xrdml_bytes,
    xy_bytes,
)
from labvault.plugin import ConfigError

DATA = Path(__file__).parent / "data"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def make_app(labvault_make_app):
    def make(**options: Any) -> Any:
        return labvault_make_app(PLUGINS=["blocks_xrd"], BLOCK_TYPES={"xrd": options})

    return make


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def alice(app, labvault_make_user):
    return labvault_make_user(app)


def xrd_block(app: Any, user: Any, name: str, content: bytes, **data: Any) -> dict[str, Any]:
    """The block made from one uploaded file, on a new item."""
    client = app.test_client()
    response = client.post("/items", json={"type": "sample"}, headers=user.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    refcode = response.json["refcode"]
    response = client.post(
        f"/items/{refcode}/files",
        data={"file": (io.BytesIO(content), name)},
        headers=user.headers,
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    body = {"block_type": "xrd", "file_ids": [response.json["id"]], "data": data}
    response = client.post(f"/items/{refcode}/blocks", json=body, headers=user.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    block: dict[str, Any] = response.json
    block["url"] = f"/items/{refcode}/blocks/{block['id']}"
    return block


def assert_silicon(
    computed: dict[str, Any], wavelength: float = CU_K_ALPHA1, fwhm: float = 0.12
) -> None:
    """Exactly silicon's five reflections: Si 111 at d = 3.1356 Å within 0.002 Å, every
    d within 0.002 Å and 2θ within 0.02°, Q = 2π/d, FWHM within 15 % of the one they
    were made with, heights in the order of the made ones."""
    peaks = computed["peaks"]
    assert len(peaks) == len(SI_REFLECTIONS), peaks
    assert abs(peaks[0]["d"] - 3.1356) < 0.002
    for peak, hkl in zip(peaks, SI_REFLECTIONS, strict=True):
        assert abs(peak["d"] - si_d(hkl)) < 0.002, (hkl, peak)
        assert abs(peak["two_theta"] - two_theta(si_d(hkl), wavelength)) < 0.02, (hkl, peak)
        assert abs(peak["q"] - 2 * 3.141592653589793 / peak["d"]) < 1e-3
        assert peak["fwhm"] == pytest.approx(fwhm, rel=0.15), (hkl, peak)
    heights = [p["height"] for p in peaks]
    made = list(SI_REFLECTIONS.values())
    assert sorted(range(5), key=heights.__getitem__) == sorted(range(5), key=made.__getitem__)


def test_silicon_xy_gives_its_reflections(app, alice):
    block = xrd_block(app, alice, "si.xy", xy_bytes(*silicon()))

    assert block["error"] is None
    computed = block["computed"]
    assert_silicon(computed)
    assert (computed["format"], computed["points"]) == ("xy", 3001)
    assert (computed["wavelength"], computed["wavelength_source"]) == (CU_K_ALPHA1, "options")
    assert computed["two_theta_range"] == [20.0, 80.0]


def test_xye_headerless_and_comma_separated_read_alike(app, alice):
    x, y = silicon()
    three = xrd_block(app, alice, "si.xye", xy_bytes(x, y, errors=True))
    assert three["computed"]["format"] == "xye"
    assert_silicon(three["computed"])
    plain = xy_bytes(x, y, header=False).decode().replace(" ", ", ")
    commas = xrd_block(app, alice, "si.xy", plain.encode())
    assert commas["computed"]["peaks"] == three["computed"]["peaks"]
    # decimal commas, as a spreadsheet in a German or French locale saves them
    german = xy_bytes(x, y).decode().replace(".", ",").replace(" ", ";")
    semicolons = xrd_block(app, alice, "si.xy", german.encode())
    assert semicolons["computed"]["peaks"] == three["computed"]["peaks"]


@pytest.mark.parametrize("listed, counts", [(False, False), (True, True)])
def test_xrdml_of_the_same_pattern_gives_the_same_peaks(app, alice, listed, counts):
    x, y = silicon()
    xy = xrd_block(app, alice, "si.xy", xy_bytes(x, y))
    xrdml = xrd_block(app, alice, "si.xrdml", xrdml_bytes(x, y, listed=listed, counts=counts))

    assert xrdml["error"] is None
    assert xrdml["computed"]["format"] == "xrdml"
    assert (xrdml["computed"]["wavelength"], xrdml["computed"]["wavelength_source"]) == (
        CU_K_ALPHA1,
        "file",
    )
    for ours, theirs in zip(xrdml["computed"]["peaks"], xy["computed"]["peaks"], strict=True):
        assert ours["two_theta"] == pytest.approx(theirs["two_theta"], abs=2e-4)
        assert ours["d"] == pytest.approx(theirs["d"], abs=2e-5)


def test_the_wavelength_of_the_file_wins_unless_the_deployer_forces_one(
    make_app, labvault_make_user
):
    x, y = silicon(wavelength=MO_K_ALPHA1, start=8, end=36, step=0.01, fwhm=0.06)
    content = xrdml_bytes(x, y, wavelength=MO_K_ALPHA1)

    app = make_app(wavelength=1.5406)
    user = labvault_make_user(app)
    computed = xrd_block(app, user, "mo.xrdml", content)["computed"]
    assert (computed["wavelength"], computed["wavelength_source"]) == (MO_K_ALPHA1, "file")
    assert_silicon(computed, MO_K_ALPHA1, fwhm=0.06)  # the same d-spacings from other angles

    in_nm = content.replace(b'unit="Angstrom">0.7093', b'unit="nm">0.07093')
    assert in_nm != content
    computed = xrd_block(app, user, "nm.xrdml", in_nm)["computed"]
    assert computed["wavelength"] == pytest.approx(MO_K_ALPHA1)
    assert_silicon(computed, MO_K_ALPHA1, fwhm=0.06)

    # a file that states none is read at the deployer's wavelength
    computed = xrd_block(app, user, "mo.xy", xy_bytes(x, y))["computed"]
    assert (computed["wavelength"], computed["wavelength_source"]) == (1.5406, "options")
    assert abs(computed["peaks"][0]["d"] - 3.1356) > 0.5  # Mo angles read as Cu: wrong d

    # the user states it for the block: it wins over the file's and the default
    computed = xrd_block(app, user, "mo.xy", xy_bytes(x, y), wavelength=MO_K_ALPHA1)["computed"]
    assert (computed["wavelength"], computed["wavelength_source"]) == (MO_K_ALPHA1, "data")
    assert_silicon(computed, MO_K_ALPHA1, fwhm=0.06)
    wrong = xrd_block(app, user, "mo.xrdml", content, wavelength=CU_K_ALPHA1)["computed"]
    assert (wrong["wavelength"], wrong["wavelength_source"]) == (CU_K_ALPHA1, "data")

    forced = make_app(wavelength=MO_K_ALPHA1, force_wavelength=True)
    user = labvault_make_user(forced)
    content = xrdml_bytes(x, y, wavelength=CU_K_ALPHA1)  # a file that says the wrong one
    for given in ({}, {"wavelength": CU_K_ALPHA1}):  # the file's and the user's lose
        computed = xrd_block(forced, user, "mo.xrdml", content, **given)["computed"]
        assert (computed["wavelength"], computed["wavelength_source"]) == (MO_K_ALPHA1, "options")
        assert_silicon(computed, MO_K_ALPHA1, fwhm=0.06)


def test_a_wavelength_in_the_data_is_checked(app, alice):
    client = app.test_client()
    refcode = client.post("/items", json={"type": "sample"}, headers=alice.headers).json["refcode"]
    for data in ({"wavelength": -1}, {"wavelength": "copper"}, {"lambda": 1.5}):
        body = {"block_type": "xrd", "data": data}
        response = client.post(f"/items/{refcode}/blocks", json=body, headers=alice.headers)
        assert response.status_code == 422, response.json
        assert list(response.json["errors"]["json"]) == ["data"]


def test_positions_are_refined_between_the_measured_points(app, alice):
    """At a coarse step of 0.05°, Si 111 and 220 fall near midway between two points (0.018
    and 0.022° from the nearest); the refined positions are within 0.006°."""
    x, y = silicon(step=0.05, start=20.025)
    peaks = xrd_block(app, alice, "coarse.xy", xy_bytes(x, y))["computed"]["peaks"]

    assert len(peaks) == len(SI_REFLECTIONS)
    for peak, hkl in zip(peaks, SI_REFLECTIONS, strict=True):
        made = two_theta(si_d(hkl), CU_K_ALPHA1)
        assert abs(peak["two_theta"] - made) < 0.006, (hkl, peak, made)
    nearest = [min(abs(x - two_theta(si_d(hkl), CU_K_ALPHA1))) for hkl in list(SI_REFLECTIONS)[:2]]
    assert min(nearest) > 0.015


def test_peak_finding_options(make_app, labvault_make_user):
    app = make_app(min_prominence=0.2, max_plot_points=500)
    block = xrd_block(app, labvault_make_user(app), "si.xy", xy_bytes(*silicon()))
    peaks = block["computed"]["peaks"]
    # 400 (7 %) and 331 (11 %) are below a prominence of 20 % of the range
    assert [round(p["d"], 2) for p in peaks] == [
        round(si_d(h), 2) for h in list(SI_REFLECTIONS)[:3]
    ]
    line = block["computed"]["plot"]["layer"][0]["data"]["values"]
    assert len(line) <= 500
    assert max(p["intensity"] for p in line) == pytest.approx(peaks[0]["height"], rel=0.05)

    app = make_app(max_peaks=2)
    peaks = xrd_block(app, labvault_make_user(app), "si.xy", xy_bytes(*silicon()))["computed"]
    assert [round(p["d"], 2) for p in peaks["peaks"]] == [3.14, 1.92]


def test_the_plot_is_vega_lite_with_peak_marks_and_a_png(app, alice):
    block = xrd_block(app, alice, "si.xy", xy_bytes(*silicon()))
    plot = block["computed"]["plot"]
    json.dumps(plot)
    assert plot["usermeta"] == {"vega_lite_version": "5"}
    line, marks = plot["layer"]
    assert line["mark"]["type"] == "line"
    assert line["encoding"]["x"]["field"] == "two_theta"
    assert line["encoding"]["y"]["field"] == "intensity"
    assert len(line["data"]["values"]) == 3001  # under max_plot_points: every point
    assert [m["d"] for m in marks["data"]["values"]] == [p["d"] for p in block["computed"]["peaks"]]

    client = app.test_client()
    response = client.get(f"{block['url']}/plot.png", headers=alice.headers)
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.data.startswith(PNG_SIGNATURE)
    assert len(response.data) > 10_000  # a drawn figure, not an empty canvas


def test_a_real_xrdml_file_reads(app, alice):
    content = (DATA / "datalab-CG20474_jdb11-2a.xrdml").read_bytes()
    block = xrd_block(app, alice, "CG20474_jdb11-2a.xrdml", content)

    assert block["error"] is None
    computed = block["computed"]
    assert computed["wavelength"] == pytest.approx(1.540598)
    assert computed["wavelength_source"] == "file"
    assert computed["two_theta_range"] == pytest.approx([10.01155563, 89.99168896])
    assert computed["points"] > 1000
    # its highest point, 44045 counts at 16.19°, is its strongest peak; with the default
    # options spikes of noise (one or two points wide) are no peaks
    strongest = max(computed["peaks"], key=lambda p: p["prominence"])
    assert strongest["two_theta"] == pytest.approx(16.19, abs=0.01)
    assert len(computed["peaks"]) == 12
    assert min(p["fwhm"] for p in computed["peaks"]) > 0.05
    for peak in computed["peaks"]:
        assert 10 < peak["two_theta"] < 90
        assert peak["d"] == pytest.approx(1.540598 / (2 * _sin_half(peak["two_theta"])), rel=1e-4)
    response = app.test_client().get(f"{block['url']}/plot.png", headers=alice.headers)
    assert response.data.startswith(PNG_SIGNATURE)


def _sin_half(degrees: float) -> float:
    import math

    return math.sin(math.radians(degrees) / 2)


def _short(points: int = 10) -> bytes:
    return xy_bytes(*(a[:points] for a in silicon()))


DTD = b"""<?xml version="1.0"?>
<!DOCTYPE xrdMeasurements [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>
<xrdMeasurements><x>&lol2;</x></xrdMeasurements>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE xrdMeasurements SYSTEM "http://example.org/x.dtd">
<xrdMeasurements/>"""


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("notes.xy", b"just some notes\nabout a sample\n", "no pattern found"),
        ("blank.xy", b"\n  \n# only a comment\n", "no pattern found"),
        ("image.xy", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "not a text file"),
        ("short.xy", _short(), "the pattern has 10 points; at least 20 are needed"),
        ("text.xy", b"10 1\n11 2\n12 lots\n", "line 3: '12 lots' is not numbers"),
        ("four.xy", b"10 1 2 3\n", "line 1: 4 values; a pattern has 2θ, intensity"),
        ("mixed.xy", b"# a\n10 1\n11 2 3\n", "line 3: 3 values, where line 2 has 2"),
        ("one.xy", b"10 1\n11\n", "line 2: 1 value; a pattern"),
        ("nan.xy", b"10 1\n11 nan\n", "line 2: '11 nan' holds a value that is no number"),
        ("back.xy", b"".join(f"{20 - i} 5\n".encode() for i in range(30)), "2θ must increase"),
        ("wide.xy", b"".join(f"{i * 10} 5\n".encode() for i in range(30)), "between 0 and 180"),
        ("entities.xrdml", DTD, "declares a DTD or entities"),
        ("external.xrdml", EXTERNAL, "declares a DTD or entities"),
        ("broken.xrdml", b"<xrdMeasurements><dataPoints>", "not readable XML"),
        ("other.xrdml", b"<svg/>", "not an .xrdml file: its root is <svg>"),
        ("none.xrdml", b"<xrdMeasurements/>", "holds no <dataPoints>"),
        (
            "zero.xrdml",
            xrdml_bytes(*silicon(), wavelength=0),
            "<kAlpha1> must hold one wavelength greater than 0",
        ),
        (
            "furlong.xrdml",
            xrdml_bytes(*silicon()).replace(b'unit="Angstrom">1.5406', b'unit="furlong">1.5406'),
            "<kAlpha1> has a unit labvault does not know: furlong",
        ),
        (
            "mismatch.xrdml",
            xrdml_bytes(*silicon(), listed=True).replace(b"20.00000 ", b"", 1),
            "lists 3000 2θ positions for 3001 intensities",
        ),
        (
            "words.xrdml",
            xrdml_bytes(*silicon()).replace(b'<intensities unit="counts">', b"<intensities>x "),
            "<intensities> holds something that is not a number",
        ),
        ("pattern.txt", xy_bytes(*silicon()), "pattern.txt: a xrd block reads .xy, .xye, .xrdml"),
    ],
)
def test_bad_files_are_the_blocks_error(app, alice, name, content, message):
    block = xrd_block(app, alice, name, content)

    assert block["computed"] == {}
    assert message in block["error"], block["error"]
    response = app.test_client().get(f"{block['url']}/plot.png", headers=alice.headers)
    assert response.status_code == 409  # the core's answer for a block whose results failed


def test_a_block_without_a_file_waits_for_one(app, alice):
    client = app.test_client()
    kinds = {kind["name"]: kind for kind in client.get("/block-types", headers=alice.headers).json}
    assert kinds["xrd"]["accepted_file_extensions"] == [".xy", ".xye", ".xrdml"]
    assert kinds["xrd"]["max_files"] == 1
    assert kinds["xrd"]["data_schema"]["properties"]["wavelength"]["type"] == "number"
    refcode = client.post("/items", json={"type": "sample"}, headers=alice.headers).json["refcode"]
    response = client.post(
        f"/items/{refcode}/blocks", json={"block_type": "xrd"}, headers=alice.headers
    )
    assert response.status_code == 201
    assert response.json["error"] is None
    assert response.json["computed"]["peaks"] == []
    url = f"/items/{refcode}/blocks/{response.json['id']}/plot.png"
    assert client.get(url, headers=alice.headers).status_code == 404


@pytest.mark.parametrize(
    "options, problem",
    [
        ({"wavelength": 0}, "BLOCK_TYPES.xrd.wavelength"),
        ({"min_prominence": 2}, "BLOCK_TYPES.xrd.min_prominence"),
        ({"min_width": -1}, "BLOCK_TYPES.xrd.min_width"),
        ({"peaks": 3}, "BLOCK_TYPES.xrd.peaks: unknown option"),
    ],
)
def test_options_are_checked_at_startup(make_app, options, problem):
    with pytest.raises(ConfigError) as failure:
        make_app(**options)
    assert any(p.startswith(problem) for p in failure.value.problems), failure.value.problems
