"""Inventory imports at 10,000 and 100,000 rows: time and peak memory.

For each size, a ChemInventory-style CSV export is generated and imported through the
inventory_cheminventory plugin and the core's engine into a fresh SQLite database, three
times: the first import, an unchanged re-import, and a re-import with 1% of the rows
edited. Each import runs in a process of its own, so its peak memory (max RSS) is its
own. Beside them, in the same run, the baselines:

  read      the same file only read through the importer (no database): what any
            import pays at least; the import's time is printed as a ratio to it;
  idle      a process that builds the app and imports nothing: the memory every
            import starts from; growth is peak RSS minus this.

"cpu s" is the step's CPU time (process_time), steadier than its seconds on a machine
others load (the load average is printed beside each size's figures).

"step MB" is each step's own growth (Linux): from its RSS once the app is built to its
peak, which building the app can otherwise hide; the memory ratio uses it where known.

Targets: the first import of 10k rows under 10 s, the unchanged re-import under 5 s; of
100k rows under 40 s and 8 s (issue 26); and memory growth that does not grow with the
number of rows (100k within 1.5x of 10k).

    .venv/bin/python bench/inventory.py [--sizes 10000,100000] [--quick]

``--quick`` (for ``make bench``) measures 1,000 and 10,000 rows, in about a minute.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HEADER = [
    "Barcode",
    "Container Name",
    "Container Size",
    "Unit",
    "Supplier",
    "Location",
    "Comments",
    "Date Acquired",
    "Substance CAS",
    "Molecular Weight",
    "Owner",
]
SUBSTANCES = [
    ("acetone", "67-64-1", "58.08"),
    ("ethanol", "64-17-5", "46.07"),
    ("toluene", "108-88-3", "92.14"),
    ("hexane", "110-54-3", "86.18"),
    ("methanol", "67-56-1", "32.04"),
]


def write_export(path: Path, rows: int, *, edited: float = 0.0, seed: int = 1) -> None:
    """A CSV export of ``rows`` containers; ``edited`` of them moved to another place."""
    rng = random.Random(seed)
    changed = set(rng.sample(range(rows), int(rows * edited)))
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for n in range(rows):
            name, cas, weight = SUBSTANCES[n % len(SUBSTANCES)]
            location = f"cabinet {n % 40}" if n not in changed else "moved to fridge 3"
            writer.writerow(
                [
                    f"CH-{n:07d}",
                    f"{name} {n}",
                    "500",
                    "mL",
                    "Sigma" if n % 2 else "Merck",
                    location,
                    "",
                    "2024-03-01",
                    cas,
                    weight,
                    f"group {n % 7}",
                ]
            )


def settings(folder: Path) -> dict[str, Any]:
    return {
        "IDENTIFIER_PREFIX": "bench",
        "SECRET_KEY": "bench-secret-key-0123456789abcdefghij",
        "INSTANCE_PATH": str(folder / "instance"),
        "DATABASE_URL": f"sqlite:///{folder / 'labvault.db'}",
        "PLUGINS": ["inventory_cheminventory"],
        "INVENTORY_IMPORTERS": {"stores": {"type": "cheminventory"}},
    }


def _rss_mb(key: str) -> float | None:
    """VmRSS (now) or VmHWM (the peak) of this process, from Linux's /proc; else None."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak() -> float | None:
    """Make the peak RSS the current one (Linux); the current RSS, or None elsewhere."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return None
    return _rss_mb("VmRSS")


def child(phase: str, folder: Path, export: Path | None) -> dict[str, Any]:
    """One measured step, in this (fresh) process."""
    from labvault.app import create_app
    from labvault.web.session import get_session

    app = create_app(settings(folder))
    result: dict[str, Any] = {}
    # the step's own growth: from the RSS when it starts (the app built) to its peak
    before = _reset_peak()
    started, cpu_started = time.perf_counter(), time.process_time()
    state = app.extensions["labvault"]
    with app.app_context():
        from labvault.inventory.service import Importers, import_file

        importers = Importers.configured(state.settings, state.registry)
        if phase == "read":
            assert export is not None
            with export.open("rb") as stream:
                result["records"] = sum(
                    1 for _ in importers.get("stores").read(stream, export.name)
                )
        elif phase == "import":
            from labvault.users.service import find_user

            assert export is not None
            session = get_session()
            user = find_user(session, "bench@lab.example")
            with export.open("rb") as stream:
                report = import_file(
                    session,
                    importers,
                    user,
                    "stores",
                    stream,
                    export.name,
                    dry_run=False,
                    mark_missing=None,
                )
            result["counts"] = report["counts"]
    result["seconds"] = time.perf_counter() - started
    result["cpu_seconds"] = time.process_time() - cpu_started
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak = _rss_mb("VmHWM")
    result["step_growth_mb"] = peak - before if before is not None and peak is not None else None
    return result


def run_child(phase: str, folder: Path, export: Path | None = None) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", phase, str(folder), str(export or "")]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{phase} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def prepare(folder: Path) -> None:
    from labvault.app import create_app
    from labvault.auth.models import Role
    from labvault.migrations import create_schema
    from labvault.users.service import create_user
    from labvault.web.session import get_session

    app = create_app(settings(folder))
    create_schema(app.extensions["labvault"].database.engine)
    with app.app_context():
        create_user(get_session(), "bench@lab.example", role=Role.MANAGER)
    app.extensions["labvault"].database.dispose()


def measure(rows: int, root: Path) -> dict[str, Any]:
    folder = root / f"rows-{rows}"
    folder.mkdir()
    prepare(folder)
    export, edited = folder / "export.csv", folder / "export-edited.csv"
    write_export(export, rows)
    write_export(edited, rows, edited=0.01)
    idle = run_child("idle", folder)
    read = run_child("read", folder, export)
    first = run_child("import", folder, export)
    unchanged = run_child("import", folder, export)
    edits = run_child("import", folder, edited)
    assert first["counts"]["created"] == rows, first
    assert unchanged["counts"]["unchanged"] == rows, unchanged
    assert edits["counts"]["updated"] == int(rows * 0.01), edits
    return {"idle": idle, "read": read, "first": first, "unchanged": unchanged, "edits": edits}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--quick", action="store_true", help="measure 1,000 and 10,000 rows")
    parser.add_argument("--child", nargs=3, metavar=("PHASE", "FOLDER", "EXPORT"))
    args = parser.parse_args()
    if args.child:
        phase, folder, export = args.child
        print(json.dumps(child(phase, Path(folder), Path(export) if export else None)))
        return
    sizes = [int(size) for size in ("1000,10000" if args.quick else args.sizes).split(",")]
    growth: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="lv-bench-inventory-") as temp:
        print(
            f"{'rows':>8} {'step':<10} {'seconds':>8} {'cpu s':>7} {'x read':>7} {'peak MB':>8} "
            f"{'growth MB':>9} {'step MB':>8}"
        )
        for rows in sizes:
            figures = measure(rows, Path(temp))
            base_rss, read_s = figures["idle"]["peak_rss_mb"], figures["read"]["seconds"]
            for step in ("read", "first", "unchanged", "edits"):
                f = figures[step]
                grown = f["peak_rss_mb"] - base_rss
                own = f.get("step_growth_mb")
                # the step's own growth where /proc tells it (the peak of building the app
                # can hide an import's), else the peak over the idle process's
                growth[rows] = max(growth.get(rows, 0.0), grown if own is None else own)
                print(
                    f"{rows:>8} {step:<10} {f['seconds']:>8.2f} {f['cpu_seconds']:>7.2f} "
                    f"{f['seconds'] / read_s:>7.1f} "
                    f"{f['peak_rss_mb']:>8.1f} {grown:>9.1f} "
                    f"{'-' if own is None else format(own, '.1f'):>8}"
                )
            print(
                f"{rows:>8} first import {figures['first']['seconds']:.1f} s, unchanged "
                f"re-import {figures['unchanged']['seconds']:.1f} s (targets at 10k: < 10 s, "
                f"< 5 s; at 100k: < 40 s, < 8 s); load average {os.getloadavg()[0]:.1f}"
            )
    if len(growth) > 1:
        small, large = min(growth), max(growth)
        ratio = growth[large] / growth[small] if growth[small] else float("inf")
        print(f"memory growth {large} rows / {small} rows: {ratio:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
