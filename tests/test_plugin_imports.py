"""Plugins reach the core through ``labvault.plugin`` alone: checked on the import graph.

Every import statement counts, also those inside functions or under ``TYPE_CHECKING``,
and ``from labvault import db`` is the import of ``labvault.db`` it is (grimp resolves
them, as import-linter does). The core's built-in block types are held to the same
rule. A plugin may also import another plugin it declares as a dependency, and the test
support a plugin ships for others (its ``testing`` module) may import ``labvault.testing``.

A plugin's tests are held to the same rule, with ``labvault.testing`` besides: they use
the core as a plugin author can, through the API, the CLI and the test kit, and never
write SQL into the core's tables (no ``sqlalchemy``; ``labvault_clock`` moves time).
"""

from __future__ import annotations

import ast
import re
import sys
import textwrap
import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PUBLIC_API = "labvault.plugin"
TEST_SUPPORT = "labvault.testing"
BUILTINS = "labvault.builtins"
#: What a plugin's tests may import of the core.
FOR_PLUGIN_TESTS = {PUBLIC_API, TEST_SUPPORT}
#: Libraries a plugin's tests must not use: SQL into the core's tables.
NOT_FOR_PLUGIN_TESTS = {"sqlalchemy"}


def plugin_packages(folder: Path) -> list[str]:
    """The packages a plugin folder ships (its tests are not part of the plugin)."""
    return sorted(
        init.parent.name for init in folder.glob("*/__init__.py") if init.parent.name != "tests"
    )


def declared_plugins(folder: Path) -> set[str]:
    """Import names of the labvault plugins the folder's distribution depends on."""
    project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
    names = (re.split(r"[\s<>=!~;\[]", d, maxsplit=1)[0] for d in project["dependencies"])
    return {n.lower().replace("-", "_") for n in names if n.lower().startswith("labvault-")}


def _line(graph: grimp.ImportGraph, importer: str, imported: str) -> str:
    details = graph.get_import_details(importer=importer, imported=imported)
    where = f"{details[0]['line_number']}: {details[0]['line_contents']}" if details else "?"
    return f"{importer} imports {imported} (line {where})"


def is_test_support(module: str) -> bool:
    """Whether ``module`` is (in) a plugin's ``testing`` module, the fixtures and steps it
    ships for the tests of plugins built on it."""
    return "testing" in module.split(".")[1:2]


def forbidden_imports(packages: list[str], declared: set[str] = frozenset()) -> list[str]:
    """Each import of ``packages`` that reaches labvault beyond ``labvault.plugin``, or a
    plugin not in ``declared``."""
    roots = sorted({package.split(".")[0] for package in packages} | {"labvault"})
    graph = grimp.build_graph(*roots, include_external_packages=True)
    own = set(packages)
    problems = []
    for package in packages:
        for module in sorted({package} | graph.find_descendants(package)):
            for imported in sorted(graph.find_modules_directly_imported_by(module)):
                top = imported.split(".")[0]
                core = top == "labvault" and imported != PUBLIC_API
                if imported == TEST_SUPPORT:
                    core = not is_test_support(module)
                if package == BUILTINS:
                    core = core and not imported.startswith(f"{BUILTINS}.")
                other_plugin = top.startswith("labvault_") and top not in own | declared
                if core or other_plugin:
                    problems.append(_line(graph, module, imported))
    return problems


def imports_in(source: str) -> list[tuple[int, str]]:
    """(line, module) of every import in ``source``, in functions too; ``from labvault
    import testing`` is the import of ``labvault.testing``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if node.module == "labvault":
                found += [(node.lineno, f"labvault.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
    return sorted(found)


def forbidden_test_imports(folder: Path) -> list[str]:
    """Each import in a plugin's tests of the core beyond ``labvault.plugin`` and
    ``labvault.testing``, of a plugin that is neither its own nor declared, or of
    ``sqlalchemy``."""
    allowed_plugins = set(plugin_packages(folder)) | declared_plugins(folder)
    problems = []
    for path in sorted((folder / "tests").rglob("*.py")):
        for line, module in imports_in(path.read_text()):
            top = module.split(".")[0]
            if (
                (top == "labvault" and module not in FOR_PLUGIN_TESTS)
                or (top.startswith("labvault_") and top not in allowed_plugins)
                or top in NOT_FOR_PLUGIN_TESTS
            ):
                problems.append(f"{path.relative_to(folder)}:{line} imports {module}")
    return problems


def plugin_folders() -> list[Path]:
    return sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))


@pytest.mark.parametrize(
    "folder", [None, *plugin_folders()], ids=lambda f: f.name if f else "builtins"
)
def test_plugins_and_builtins_import_only_the_plugin_api(folder, monkeypatch):
    if folder is None:
        assert forbidden_imports([BUILTINS]) == []
        return
    packages = plugin_packages(folder)
    assert packages, f"{folder} ships no package"
    monkeypatch.syspath_prepend(str(folder))
    assert forbidden_imports(packages, declared_plugins(folder)) == []


@pytest.mark.parametrize("folder", plugin_folders(), ids=lambda f: f.name)
def test_plugin_tests_import_only_the_plugin_api_and_the_test_kit(folder):
    assert (folder / "tests").is_dir(), f"{folder} has no tests"
    assert forbidden_test_imports(folder) == []


def test_the_check_of_plugin_tests_finds_the_core_other_plugins_and_sql(tmp_path):
    folder = tmp_path / "leaky"
    (folder / "labvault_leaky").mkdir(parents=True)
    (folder / "labvault_leaky" / "__init__.py").write_text("")
    (folder / "tests" / "deep").mkdir(parents=True)
    (folder / "pyproject.toml").write_text(
        '[project]\nname = "labvault-leaky"\n'
        'dependencies = ["labvault>=0.1,<1", "labvault-auth-oidc>=1.0"]\n'
    )
    (folder / "tests" / "test_leaky.py").write_text(
        textwrap.dedent(
            """\
            import boto3
            import sqlalchemy as sa
            from labvault import testing, db
            from labvault.plugin import hookimpl
            from labvault.testing import wait_until
            from labvault.testing._waiting import within
            from labvault_auth_oidc.testing import StandInProvider
            from labvault_leaky import thing
            from leaky_steps import step


            def test_it():
                from labvault.items.service import get_item
                import labvault_auth_github
                from sqlalchemy.orm import Session
            """
        )
    )
    (folder / "tests" / "deep" / "leaky_steps.py").write_text("from labvault.app import app\n")

    assert forbidden_test_imports(folder) == [
        "tests/deep/leaky_steps.py:1 imports labvault.app",
        "tests/test_leaky.py:2 imports sqlalchemy",
        "tests/test_leaky.py:3 imports labvault.db",
        "tests/test_leaky.py:6 imports labvault.testing._waiting",
        "tests/test_leaky.py:13 imports labvault.items.service",
        "tests/test_leaky.py:14 imports labvault_auth_github",
        "tests/test_leaky.py:15 imports sqlalchemy.orm",
    ]


def test_the_check_finds_every_way_of_reaching_the_core(tmp_path, monkeypatch):
    folder = tmp_path / "leaky"
    package = folder / "labvault_leaky"
    package.mkdir(parents=True)
    (folder / "pyproject.toml").write_text(
        '[project]\nname = "labvault-leaky"\n'
        'dependencies = ["labvault>=0.1,<1", "labvault-auth-oidc>=1.0"]\n'
    )
    (package / "__init__.py").write_text(
        textwrap.dedent(
            """\
            from typing import TYPE_CHECKING

            from labvault import db
            from labvault.plugin import hookimpl
            from labvault_leaky import helpers
            import labvault_auth_oidc
            import labvault_auth_github
            import labvault.testing

            if TYPE_CHECKING:
                from labvault.app import LabvaultState
            """
        )
    )
    (package / "helpers.py").write_text(
        "def later():\n    from labvault.items import service\n    return service\n"
    )
    (package / "testing.py").write_text("from labvault.testing import page_form\n")
    monkeypatch.syspath_prepend(str(folder))
    for stub in ("labvault_auth_oidc", "labvault_auth_github"):  # importable, as installed
        (tmp_path / f"{stub}.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))

    assert plugin_packages(folder) == ["labvault_leaky"]
    assert declared_plugins(folder) == {"labvault_auth_oidc"}
    assert forbidden_imports(["labvault_leaky"], declared_plugins(folder)) == [
        "labvault_leaky imports labvault.app (line 11: from labvault.app import LabvaultState)",
        "labvault_leaky imports labvault.db (line 3: from labvault import db)",
        "labvault_leaky imports labvault.testing (line 8: import labvault.testing)",
        "labvault_leaky imports labvault_auth_github (line 7: import labvault_auth_github)",
        "labvault_leaky.helpers imports labvault.items.service "
        "(line 2: from labvault.items import service)",
    ]
    sys.modules.pop("labvault_leaky", None)


def unused_public_names(names: list[str], sources: list[str], guide: str) -> list[str]:
    """The names of the plugin API that no plugin (or built-in) uses and the plugin
    guide does not name: exported for nobody."""
    return [
        name
        for name in names
        if not re.search(rf"\b{name}\b", guide)
        and not any(re.search(rf"\b{name}\b", source) for source in sources)
    ]


def test_every_name_of_the_plugin_api_is_used_or_documented():
    import labvault.plugin

    sources = [
        path.read_text()
        for path in [
            *(ROOT / "plugins").glob("*/labvault_*/**/*.py"),
            *(ROOT / "core" / "labvault" / "builtins").glob("*.py"),
        ]
    ]
    guide = (ROOT / "plugins" / "README.md").read_text()

    assert unused_public_names(labvault.plugin.__all__, sources, guide) == []
    assert unused_public_names(["PluginError"], sources, guide) == ["PluginError"]
