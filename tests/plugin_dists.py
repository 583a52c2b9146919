"""Real plugin distributions for the plugin tests, written into ``tmp_path``.

Each distribution gets a folder of its own holding the plugin module and a
``<dist>-<version>.dist-info`` folder (METADATA and entry_points.txt), and that folder
is put on ``sys.path``, exactly as pip would leave an installed plugin. Each module
declares the plugin API range of the in-repo plugins (:data:`PLUGIN_API`) unless told
otherwise. Each new path
entry also gives ``labvault.loader`` a fresh view of what is installed, because it
caches installed plugins per ``sys.path``.
"""

from __future__ import annotations

import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from labvault.loader import ENTRY_POINT_GROUP
from labvault.testing import TEST_PUBLIC_URL, TEST_SECRET_KEY

#: What a plugin written against plugin API 2.x declares (as every plugin of plugins/ does).
PLUGIN_API = ">=2.0,<3"


class PluginDists:
    """Writes plugin distributions and forgets their modules again after the test."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.monkeypatch = monkeypatch
        self.module_names: list[str] = []

    def add(
        self,
        name: str,
        source: str | None,
        *,
        dist: str | None = None,
        version: str = "1.0.0",
        module: str | None = None,
        group: str = ENTRY_POINT_GROUP,
        api: object = PLUGIN_API,
    ) -> str:
        """Install a distribution whose entry point ``name`` names a module of ``source``.

        ``source`` None writes no module at all (an entry point pointing nowhere). The
        module declares ``LABVAULT_PLUGIN_API = api`` (``api`` None: declares nothing).
        Returns the module name, so a test can look for it in ``sys.modules``.
        """
        dist = dist or f"labvault-test-{name}"
        module = module or f"lvtest_{name}"
        site = self.root / f"site-{len(self.module_names)}"
        info = site / f"{re.sub(r'[-_.]+', '_', dist)}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[{group}]\n{name} = {module}\n")
        if source is not None:
            declaration = "" if api is None else f"\nLABVAULT_PLUGIN_API = {api!r}\n"
            (site / f"{module}.py").write_text(textwrap.dedent(source) + declaration)
        self.module_names.append(module)
        self.monkeypatch.syspath_prepend(str(site))
        return module

    def forget_modules(self) -> None:
        for loaded in list(sys.modules):
            if any(loaded == m or loaded.startswith(f"{m}.") for m in self.module_names):
                del sys.modules[loaded]


def plugin_dists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginDists]:
    """Body of the ``dists`` fixture of the plugin test modules."""
    dists = PluginDists(tmp_path / "dists", monkeypatch)
    yield dists
    dists.forget_modules()


def app_settings(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """Settings for an app that never touches its (SQLite) database."""
    return {
        "IDENTIFIER_PREFIX": "test",
        "SECRET_KEY": TEST_SECRET_KEY,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'labvault.db'}",
        "PUBLIC_URL": TEST_PUBLIC_URL,
        **overrides,
    }


def write_config(tmp_path: Path, **overrides: Any) -> Path:
    """A config.py for the CLI (``LABVAULT_CONFIG``) with the test settings."""
    path = tmp_path / "config.py"
    path.write_text(
        "".join(
            f"{key} = {value!r}\n" for key, value in app_settings(tmp_path, **overrides).items()
        )
    )
    return path
