"""Every folder of plugins/ is a distribution a plugin author could publish as it is: its
entry point, the plugin API range it declares, ``py.typed`` (shipped as package data),
Project-URLs, a sdist that carries all of tests/, a dependency for every distribution
its package imports, and for every one its tests import a dependency or an entry of its
``test`` extra (so ``pip install <plugin>[test]`` runs them). Read from each folder's
pyproject.toml and source, nothing built.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from tests.test_plugin_imports import ROOT, imports_in, plugin_folders

URLS = {"Homepage", "Documentation", "Source", "Issues"}


def requirement_name(requirement: str) -> str:
    return normalized(re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0])


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def labvault_testing_extra() -> set[str]:
    """The distributions of ``labvault[testing]``, which a plugin's ``testing`` module
    (the test support it ships for others) may import besides its dependencies."""
    core = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {requirement_name(r) for r in core["optional-dependencies"]["testing"]}


def labvault_dependencies() -> set[str]:
    """What installing labvault brings (flask, werkzeug's, ...): a plugin's tests may use
    them, since its dependency on labvault brings them too."""
    core = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {requirement_name(r) for r in core["dependencies"]} | {"werkzeug", "click"}


def brought_for_tests(project: dict) -> set[str]:
    """What ``pip install <plugin>[test]`` brings for its tests: its ``test`` extra, and
    ``labvault[testing]`` when that extra names it."""
    extra = project.get("optional-dependencies", {}).get("test", [])
    names = {requirement_name(r) for r in extra}
    if any(re.match(r"labvault\[[^]]*testing", r.replace(" ", "")) for r in extra):
        names |= labvault_testing_extra()
    return names


def declares_plugin_api(init: Path) -> bool:
    return any(
        isinstance(node, ast.Assign)
        and [getattr(t, "id", None) for t in node.targets] == ["LABVAULT_PLUGIN_API"]
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for node in ast.parse(init.read_text()).body
    )


def packaging_problems(folder: Path, distributions: dict[str, list[str]]) -> list[str]:
    """What ``folder`` lacks to be published; ``distributions``: import name -> the
    distributions that provide it (``importlib.metadata.packages_distributions()``)."""
    pyproject = tomllib.loads((folder / "pyproject.toml").read_text())
    project = pyproject["project"]
    problems = []
    entry_points = project.get("entry-points", {}).get("labvault.plugins", {})
    if len(entry_points) != 1:
        return [f"{folder.name}: one entry point in labvault.plugins, found {entry_points}"]
    [module] = entry_points.values()
    package = folder / module
    if not (package / "__init__.py").is_file():
        return [f"{folder.name}: the entry point names {module}, not a package of the folder"]
    if not declares_plugin_api(package / "__init__.py"):
        problems.append(f"{folder.name}: {module} declares no LABVAULT_PLUGIN_API")
    shipped = pyproject.get("tool", {}).get("setuptools", {}).get("package-data", {})
    if not (package / "py.typed").is_file() or "py.typed" not in shipped.get(module, []):
        problems.append(f"{folder.name}: {module}/py.typed missing or not in package-data")
    if missing := sorted(URLS - set(project.get("urls", {}))):
        problems.append(f"{folder.name}: [project.urls] lacks {', '.join(missing)}")
    manifest = folder / "MANIFEST.in"
    if "graft tests" not in (manifest.read_text() if manifest.is_file() else ""):
        problems.append(f"{folder.name}: MANIFEST.in does not graft tests (conftest, helpers)")
    declared = {requirement_name(r) for r in project.get("dependencies", [])}
    # a sdist's tests run after `pip install <plugin>[test]`: what they import is declared
    # there, a dependency, or something labvault brings; their helpers are their own
    tested = declared | brought_for_tests(project) | labvault_dependencies()
    helpers = {path.stem for path in (folder / "tests").glob("*.py")}
    sources = [(path, declared) for path in sorted(package.rglob("*.py"))]
    sources += [(path, tested) for path in sorted((folder / "tests").rglob("*.py"))]
    for path, allowed in sources:
        if path.stem == "testing":  # the test support a plugin ships for others
            allowed = allowed | labvault_testing_extra()
        for line, imported in imports_in(path.read_text()):
            top = imported.split(".")[0]
            if top in sys.stdlib_module_names or top in {module, "labvault"} | helpers:
                continue
            providers = {normalized(d) for d in distributions.get(top, [top])}
            if not providers & allowed:
                where = f"{path.relative_to(folder)}:{line}"
                names = ", ".join(sorted(providers))
                problems.append(f"{where} imports {top} ({names}), undeclared")
    return problems


@pytest.mark.parametrize("folder", plugin_folders(), ids=lambda folder: folder.name)
def test_every_plugin_folder_is_ready_to_publish(folder):
    assert packaging_problems(folder, importlib.metadata.packages_distributions()) == []


def test_the_check_names_what_a_plugin_folder_lacks(tmp_path):
    folder = tmp_path / "blocks_demo"
    (folder / "labvault_blocks_demo").mkdir(parents=True)
    (folder / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [project]
            name = "labvault-blocks-demo"
            dependencies = ["labvault>=0.1", "numpy>=2"]
            urls = {Homepage = "https://example.org"}

            [project.entry-points."labvault.plugins"]
            blocks_demo = "labvault_blocks_demo"
            """
        )
    )
    (folder / "labvault_blocks_demo" / "__init__.py").write_text(
        "import json\nimport numpy\nfrom flask import Flask\nfrom labvault.plugin import hookimpl\n"
    )
    (folder / "tests").mkdir()
    (folder / "tests" / "demo_steps.py").write_text("import flask\n")  # comes with labvault
    (folder / "tests" / "test_demo.py").write_text("import demo_steps\nimport pytest\n")

    assert packaging_problems(folder, {"flask": ["Flask"], "numpy": ["numpy"]}) == [
        "blocks_demo: labvault_blocks_demo declares no LABVAULT_PLUGIN_API",
        "blocks_demo: labvault_blocks_demo/py.typed missing or not in package-data",
        "blocks_demo: [project.urls] lacks Documentation, Issues, Source",
        "blocks_demo: MANIFEST.in does not graft tests (conftest, helpers)",
        "labvault_blocks_demo/__init__.py:3 imports flask (flask), undeclared",
        "tests/test_demo.py:2 imports pytest (pytest), undeclared",
    ]
