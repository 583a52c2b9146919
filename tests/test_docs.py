"""The documentation site: it builds offline with no warning, its API reference documents
every hook and public name, and the block-type tutorial, followed as written, works."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

import griffe
import labvault.hookspecs
import labvault.plugin
import labvault.testing
import pytest

from tests.test_blocks import create_item, upload

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
FILE_MARK = re.compile(r"<!-- file: (\S+) -->\n```\w*\n(.*?)\n```", re.DOTALL)


def hookspec_names() -> list[str]:
    """Every hook of labvault.hookspecs (the functions pluggy's spec marker marked)."""
    marker = f"{labvault.hookspecs.PROJECT_NAME}_spec"
    return [name for name, value in vars(labvault.hookspecs).items() if hasattr(value, marker)]


def public_names() -> dict[str, list[str]]:
    """The names the API reference must document, by module."""
    return {
        "labvault.hookspecs": hookspec_names(),
        "labvault.plugin": list(labvault.plugin.__all__),
        "labvault.testing": list(labvault.testing.__all__),
    }


def undocumented(module: str, names: Iterable[str], search_paths: list[Path]) -> list[str]:
    """The names of `module` that have no docstring, as mkdocstrings reads them (griffe,
    from the source: a constant's docstring is the string literal after it)."""
    loaded = griffe.load(module, search_paths=[str(path) for path in search_paths])
    return [name for name in names if name not in loaded.members or not loaded[name].docstring]


def files_of(page: Path) -> dict[str, str]:
    """The code blocks of a page marked ``<!-- file: path -->``, by path."""
    return dict(FILE_MARK.findall(page.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The site as `make docs` builds it (strict), and what mkdocs printed."""
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    return out, build.stdout + build.stderr


def test_the_site_builds_offline_without_a_warning(site):
    out, output = site
    assert "WARNING" not in output, output
    assert "Documentation built" in output
    for page in ("index.html", "plugins/index.html", "tutorials/block-type/index.html"):
        assert (out / page).is_file(), page


def test_every_hook_and_public_name_has_a_docstring_in_the_reference(site):
    out, _ = site
    pages = {
        "labvault.hookspecs": "reference/hookspecs/index.html",
        "labvault.plugin": "reference/plugin/index.html",
        "labvault.testing": "reference/testing/index.html",
    }
    names = public_names()
    assert (
        len(names["labvault.hookspecs"]) >= 9 and "labvault_startup" in names["labvault.hookspecs"]
    )
    for module, wanted in names.items():
        assert undocumented(module, wanted, [ROOT / "core"]) == [], module
        html = (out / pages[module]).read_text(encoding="utf-8")
        headings = set(re.findall(r'<h\d id="([\w.]+)" class="doc doc-heading"', html))
        missing = [name for name in wanted if f"{module}.{name}" not in headings]
        assert missing == [], f"{module}: not in {pages[module]}"
        # the docstrings' reST reads as Markdown (docs/griffe_sphinx_roles.py)
        assert re.findall(r":(?:class|meth|func|attr|data|mod|exc):|\w::\n", html) == []


def test_an_undocumented_name_is_found(tmp_path):
    (tmp_path / "fake_plugin_api.py").write_text(
        '"""A module."""\n\n'
        'LIMIT = 3\n"""Documented."""\nBARE = 4\n\n\n'
        'def documented():\n    """Yes."""\n\n\n'
        "def bare():\n    pass\n",
        encoding="utf-8",
    )

    found = undocumented(
        "fake_plugin_api", ["LIMIT", "BARE", "documented", "bare", "gone"], [tmp_path]
    )

    assert found == ["BARE", "bare", "gone"]


@pytest.fixture
def tutorial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, ModuleType]:
    """The block-type tutorial's files written as the page says, and its module imported."""
    files = files_of(DOCS / "tutorials" / "block-type.md")
    assert set(files) == {
        "pyproject.toml",
        "labvault_xrd_tutorial/__init__.py",
        "tests/test_xrd_tutorial.py",
    }
    written_out("block-type.md", tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "labvault_xrd_tutorial", raising=False)
    module = importlib.import_module("labvault_xrd_tutorial")
    yield tmp_path, module
    sys.modules.pop("labvault_xrd_tutorial", None)


def silicon_xy(wavelength: float) -> bytes:
    """A pattern with silicon's 111, 220 and 311 reflections (Gaussians, 0.01° steps)."""
    import math

    peaks = {3.1356: 100.0, 1.9201: 60.0, 1.6375: 35.0}
    centres = {2 * math.degrees(math.asin(wavelength / (2 * d))): h for d, h in peaks.items()}
    lines = [
        f"{step / 100:.2f} "
        f"{3 + sum(h * math.exp(-(((step / 100 - c) / 0.1) ** 2)) for c, h in centres.items()):.2f}"
        for step in range(500, 9000)
    ]
    return "\n".join(lines).encode()


def test_the_block_type_tutorial_as_written_computes_silicon_and_plots_it(
    tutorial, labvault_make_app, labvault_make_user
):
    _, module = tutorial
    app = labvault_make_app(plugins=[module], BLOCK_TYPES={"xy_pattern": {"wavelength": 1.5406}})
    client, alice = app.test_client(), labvault_make_user(app)
    refcode = create_item(client, alice)
    xy = upload(client, alice, refcode, "si.xy", silicon_xy(1.5406))["id"]

    block = client.post(
        f"/items/{refcode}/blocks",
        json={"block_type": "xy_pattern", "file_ids": [xy], "data": {"peaks": 2}},
        headers=alice.headers,
    )

    assert block.status_code == 201, block.get_data(as_text=True)
    assert block.json["error"] is None
    peaks = block.json["computed"]["peaks"]
    assert len(peaks) == 2
    assert abs(peaks[0]["d"] - 3.1356) < 0.01 and abs(peaks[0]["two_theta"] - 28.44) < 0.02
    assert abs(peaks[1]["d"] - 1.9201) < 0.01
    plot = client.get(f"/items/{refcode}/blocks/{block.json['id']}/plot.png", headers=alice.headers)
    assert plot.status_code == 200 and plot.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(plot.data) > 10_000  # a drawn pattern, not an empty picture
    refused = client.post(
        f"/items/{refcode}/blocks",
        json={"block_type": "xy_pattern", "file_ids": [xy], "data": {"peaks": 0}},
        headers=alice.headers,
    )
    assert refused.status_code == 422


def written_out(page: str, folder: Path) -> Path:
    """The files of a tutorial page, written into `folder` as the page names them."""
    for name, text in files_of(DOCS / "tutorials" / page).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text + "\n", encoding="utf-8")
    return folder


def run_tests_in(folder: Path) -> subprocess.CompletedProcess[str]:
    """pytest in a tutorial's folder, its package importable from there."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(folder)},
    )


def test_the_sign_in_provider_tutorials_own_tests_pass(tmp_path):
    folder = written_out("sign-in-provider.md", tmp_path)
    assert (folder / "labvault_campus_login" / "__init__.py").is_file()

    run = run_tests_in(folder)

    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout


def test_the_block_type_tutorials_own_tests_pass(tutorial):
    folder, _ = tutorial
    run = run_tests_in(folder)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout
