"""The core never names a site or a plugin: those live in plugins."""

from __future__ import annotations

import re
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "core"
#: What `labvault plugin new` writes: the files of a new plugin's own distribution (its
#: publishing workflow is a GitHub Actions file, its URLs a forge's), not the core's code.
PLUGIN_TEMPLATES = Path("labvault") / "cli" / "templates"
FORBIDDEN = re.compile(r"github|orcid|cheminventory|paramiko|boto3|\bs3\b|smtp", re.IGNORECASE)


def offending_lines(root: Path) -> list[str]:
    hits = []
    for path in sorted(root.rglob("*")):
        generated = "__pycache__" in path.parts or any(
            part.endswith(".egg-info")
            for part in path.parts  # pip's copy of the README
        )
        template = path.relative_to(root).is_relative_to(PLUGIN_TEMPLATES)
        if not path.is_file() or path.suffix == ".pyc" or generated or template:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if FORBIDDEN.search(line):
                hits.append(f"{path.relative_to(root.parent)}:{number}: {line.strip()}")
    return hits


def test_core_names_no_site_or_plugin():
    assert offending_lines(CORE) == []


def test_the_check_would_catch_a_plugin_name(tmp_path):
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "leak.py").write_text("if provider == 'GitHub':\n    use_S3()\n")
    (tmp_path / "core" / "fine.py").write_text("bucket = 's3cret'\n")
    assert offending_lines(tmp_path / "core") == ["core/leak.py:1: if provider == 'GitHub':"]


def test_a_new_plugins_templates_are_not_core_source(tmp_path):
    templates = tmp_path / "core" / "labvault" / "cli" / "templates" / "common"
    templates.mkdir(parents=True)
    (templates / "pyproject.toml.tmpl").write_text('Source = "https://github.com/OWNER/x"\n')
    (tmp_path / "core" / "labvault" / "cli" / "plugin.py").write_text("# a GitHub workflow\n")
    assert offending_lines(tmp_path / "core") == [
        "core/labvault/cli/plugin.py:1: # a GitHub workflow"
    ]


def test_generated_package_metadata_is_not_core_source(tmp_path):
    metadata = tmp_path / "core" / "labvault.egg-info"
    metadata.mkdir(parents=True)
    (metadata / "PKG-INFO").write_text("pip install labvault-auth-github\n")
    assert offending_lines(tmp_path / "core") == []
