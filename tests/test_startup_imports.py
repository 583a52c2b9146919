"""Enabling a plugin imports the plugin, not the heavy libraries it uses when it works:
each is imported by its first use (a sign-in, a backup, a connection, a pattern, a sheet)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from labvault.loader import installed_plugins

#: The plugins of this repository and what each imports only when first used.
HEAVY = {
    "auth_github": ("requests", "authlib"),
    "auth_oidc": ("requests", "authlib", "joserfc"),
    "auth_orcid": ("requests", "authlib", "joserfc"),
    "backup_s3": ("boto3", "s3transfer"),
    "blocks_xrd": ("numpy", "scipy"),
    "fs_ssh": ("paramiko", "nacl"),
    "inventory_cheminventory": ("openpyxl", "numpy", "PIL"),
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
