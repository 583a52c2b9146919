"""Every benchmark of bench/ in its short form, one after another, and one table of them.

Each script runs in a process of its own with its quick arguments (below) and measures
its own baselines in the same run, as it always does; its whole output is kept in a
folder (printed at the end). The table has one row per script: how long it took, its
exit status, and the lines in which it states a target and whether it was met. Figures
from different rows were measured minutes apart on the same machine: compare each with
its own baseline, not with another row.

    .venv/bin/python bench/all.py [--only startup,api] [--keep-going]

``make bench`` runs it. The full sizes are each script's defaults (``--help``).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
#: Each script and the arguments of its short form.
QUICK: dict[str, list[str]] = {
    "startup": ["--quick"],
    "api": ["--quick"],
    "inventory": ["--quick"],
    "backup": ["--quick"],
    "interchange": ["--quick"],
    "file_sources": ["--runs", "3", "--folders", "10"],  # the page needs its 100 files
    "soak": ["--duration", "20"],
}
#: A line that states a target, or whether one was met.
VERDICT = re.compile(
    r"^\s*(target|goal)\b|\((target|goal)\b|\bNOT met\b|\bmet\b"
    r"|\s(yes|no)(\s+\d+)?\s*$",  # a table's "met" column (bench/backup.py)
    re.IGNORECASE,
)


def run(name: str, args: list[str], out: Path) -> tuple[float, int, list[str]]:
    """Run bench/NAME.py ARGS; its output goes to OUT/NAME.txt and to this terminal."""
    started = time.monotonic()
    log = out / f"{name}.txt"
    with log.open("w") as handle:
        process = subprocess.Popen(
            [sys.executable, str(BENCH / f"{name}.py"), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert process.stdout is not None
        for line in process.stdout:
            handle.write(line)
            print(f"  {name}| {line}", end="", flush=True)
        status = process.wait()
    verdicts = [line.strip() for line in log.read_text().splitlines() if VERDICT.search(line)]
    return time.monotonic() - started, status, verdicts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated scripts (default: all)")
    parser.add_argument("--keep-going", action="store_true", help="run the rest after a failure")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(QUICK)
    unknown = [name for name in names if name not in QUICK]
    if unknown:
        parser.error(f"no benchmark {', '.join(unknown)}: one of {', '.join(QUICK)}")
    out = Path(tempfile.mkdtemp(prefix="labvault-bench-"))
    rows = []
    for name in names:
        print(f"== bench/{name}.py {' '.join(QUICK[name])}", flush=True)
        seconds, status, verdicts = run(name, QUICK[name], out)
        rows.append((name, seconds, status, verdicts))
        if status != 0 and not args.keep_going:
            break
    print("\nbench            seconds  exit  targets")
    for name, seconds, status, verdicts in rows:
        first, *rest = verdicts or ["(the script states no target)"]
        print(f"{name:<16} {seconds:7.0f}  {status:>4}  {first}")
        for verdict in rest:
            print(f"{'':<30}{verdict}")
    print(f"\nwhole outputs: {out}")
    return 0 if all(status == 0 for _, _, status, _ in rows) and len(rows) == len(names) else 1


if __name__ == "__main__":
    sys.exit(main())
