"""Enabling a plugin imports the plugin, not the heavy libraries it uses when it works:
each is imported by its first use (a sign-in, a backup, a connection, a pattern, a sheet).
A CLI command imports what it uses: one that reads a row or two (``backup due`` with
nothing due, ``audit``) needs no ORM, model, plugin or token library."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from labvault.loader import installed_plugins

from tests.backup_lab import Site

#: The plugins of this repository and what each imports only when first used.
HEAVY = {
    "auth_github": ("requests", "authlib"),
    "auth_oidc": ("requests", "authlib", "joserfc"),
    "auth_orcid": ("requests", "authlib", "joserfc"),
    "backup_s3": ("boto3", "s3transfer"),
    "blocks_xrd": ("numpy", "scipy"),
    "fs_ssh": ("paramiko", "nacl"),
    "inventory_cheminventory": ("openpyxl", "numpy", "PIL"),
    "item_types_battery": (),  # marshmallow alone, which the core imports anyway
}

CREATE_APP = """
import json, sys
from labvault.app import create_app
settings = json.loads(sys.argv[1])
app = create_app(settings)
modules = sorted({m.split(".")[0] for m in sys.modules})
print(json.dumps({"modules": modules, "rules": len(list(app.url_map.iter_rules()))}))
"""


def test_the_app_with_every_plugin_enabled_imports_none_of_their_heavy_libraries(
    tmp_path: Path,
) -> None:
    enabled = sorted(set(HEAVY) & set(installed_plugins()))
    assert enabled, "the repository's plugins are installed in the test environment"
    settings = {
        "IDENTIFIER_PREFIX": "lab",
        "SECRET_KEY": "startup-test-secret-key-0123456789abcdef",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'labvault.db'}",
        "PLUGINS": enabled,
    }
    result = subprocess.run(
        [sys.executable, "-c", CREATE_APP, json.dumps(settings)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["rules"] > 40
    plugin_modules = {f"labvault_{name}" for name in enabled}
    assert plugin_modules <= set(answer["modules"])  # enabled: imported and registered
    heavy = {library for name in enabled for library in HEAVY[name]}
    assert sorted(heavy & set(answer["modules"])) == []


#: ``labvault ARGS`` in a process that writes the modules it imported to ``sys.argv[1]``
#: when it exits.
COMMAND = """
import atexit, json, sys

def imported(path=sys.argv[1]):
    with open(path, "w") as out:
        json.dump(sorted(sys.modules), out)

atexit.register(imported)
sys.argv = ["labvault", *sys.argv[2:]]
from labvault.cli import main
main()
"""

#: What a command that reads a row or two does without: the settings' schema
#: (marshmallow), the ORM and the models, the plugins and the runtime, tokens, the web,
#: the search, PostgreSQL's dialect (MySQL's is imported by any table's MySQL options,
#: which SQLAlchemy checks against it).
NOT_FOR_A_READ = (
    "cryptography",
    "flask",
    "flask_smorest",
    "jwt",
    "labvault.models",
    "labvault.items.models",
    "labvault.runtime",
    "labvault.search.service",
    "labvault.settings.schema",
    "marshmallow",
    "pluggy",
    "sqlalchemy.dialects.postgresql",
    "sqlalchemy.orm",
)


def imported_by(site: Site, out: Path, *args: str) -> tuple[str, set[str]]:
    """The output of ``labvault ARGS`` run at ``site``, and the modules it imported."""
    done = subprocess.run(
        [sys.executable, "-c", COMMAND, str(out), *args],
        env=site.env(),
        cwd=site.root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, set(json.loads(out.read_text()))


@pytest.mark.parametrize(
    "args",
    [("backup", "due"), ("audit",), ("audit", "--json", "--since", "2026-01-01", "--limit", "5")],
)
def test_a_command_that_reads_a_row_imports_no_orm_plugin_or_model(lab_site, tmp_path, args):
    site = lab_site(files=0)
    done = site.run("backup", "create", "--strategy", "nightly")  # so none is due
    assert done.returncode == 0, done.stderr
    output, modules = imported_by(site, tmp_path / "modules.json", *args)
    assert "backup.succeeded" in output if args[0] == "audit" else output == "no backup is due\n"
    assert sorted(m for m in NOT_FOR_A_READ if m in modules) == []


@pytest.mark.parametrize("args", [("backup", "due"), ("audit",)])
def test_a_command_that_reads_a_row_still_reports_a_setting_it_cannot_use(lab_site, args):
    """Read without the schema where they are plainly usable, the settings such a
    command reads are checked by it where they are not."""
    site = lab_site(files=0)
    config = site.root / "config.py"
    config.write_text(config.read_text() + "DATABASE_URL = 5\n")
    done = site.run(*args)
    assert done.returncode == 1
    assert "DATABASE_URL: Not a valid string." in done.stderr


def test_help_imports_no_schema_or_database_library(lab_site, tmp_path):
    """`labvault --help` only looks at what PLUGINS says: no settings schema
    (marshmallow), no database library."""
    output, modules = imported_by(lab_site(files=0), tmp_path / "modules.json", "--help")
    assert "backup" in output
    assert sorted(m for m in ("marshmallow", "sqlalchemy", "pluggy", "jwt") if m in modules) == []
