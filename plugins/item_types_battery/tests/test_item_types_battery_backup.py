"""A server's cycling runs restored from its backup onto a new database, of another kind:
the runs, their links and their field filters work there as before."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from battery_steps import listed, new_cell, new_run
from labvault.testing import run_backup


def labvault(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A labvault command, as a deployer runs it with the site's config.py."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "labvault"), *args],
        env={**os.environ, "LABVAULT_CONFIG": str(config)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.mark.parametrize(
    ("labvault_database_url", "destination"),
    [("sqlite", "mariadb"), ("mariadb", "postgresql"), ("postgresql", "sqlite")],
    indirect=["labvault_database_url"],
)
def test_runs_restored_from_a_backup_are_read_and_filtered_as_before(
    labvault_make_app,
    labvault_make_user,
    labvault_make_database,
    labvault_settings,
    tmp_path,
    destination,
):
    strategy = {
        "nightly": {
            "target": {"type": "local", "path": str(tmp_path / "repository")},
            "frequency": "1d",
            "retention": 3,
        }
    }
    settings = {"PLUGINS": ["item_types_battery"], "BACKUP_STRATEGIES": strategy}
    app = labvault_make_app(**settings)
    client = app.test_client()
    admin, alice = labvault_make_user(app, role="admin"), labvault_make_user(app)
    cell = new_cell(client, alice)
    runs = {
        new_run(client, alice, cell, name=f"run {c_rate}", c_rate=c_rate, protocol="CC-CV")[
            "refcode"
        ]: c_rate
        for c_rate in (0.1, 0.5, 1.0)
    }
    report = run_backup(client, admin.headers, "nightly")["last_report"]

    site = tmp_path / "restored"
    site.mkdir()
    restored_settings = {
        **labvault_settings,  # the same SECRET_KEY: the users' tokens stay valid
        **settings,
        "DATABASE_URL": labvault_make_database(destination),
        "INSTANCE_PATH": str(site / "instance"),
    }
    config = site / "config.py"
    config.write_text("".join(f"{k} = {v!r}\n" for k, v in restored_settings.items()))
    done = labvault(config, "backup", "restore", "--strategy", "nightly", "--latest")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"restored snapshot {report['snapshot']}: ")

    restored = labvault_make_app(**restored_settings)
    client = restored.test_client()
    for refcode, c_rate in runs.items():
        shown = client.get(f"/items/{refcode}", headers=alice.headers).json
        assert (shown["type"], shown["cell"], shown["c_rate"]) == ("cycling_run", cell, c_rate)
        assert [r["refcode"] for r in shown["relationships"]] == [cell]
    half = {"field.c_rate.gte": "0.5"}
    assert listed(client, alice, type="cycling_run", sort="field.c_rate", **half) == [
        "run 0.5",
        "run 1.0",
    ]
    assert listed(client, alice, type="cycling_run", **{"field.c_rate": "0.1"}) == ["run 0.1"]
    assert len(listed(client, alice, q="CC-CV")) == 3
    # and the restored server takes new runs
    new = new_run(client, alice, cell, name="after the restore", c_rate=0.1)
    assert sorted(listed(client, alice, type="cycling_run", **{"field.c_rate": "0.1"})) == [
        "after the restore",
        "run 0.1",
    ]
    assert new["refcode"] not in runs
