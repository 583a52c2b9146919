"""The large sheet's size, and reading it in a process of its own, where its memory
can be measured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

#: Rows of the large sheet. A million takes about a minute to write and a minute to
#: read with openpyxl (most of it parsing the inline strings openpyxl writes), too long
#: for the suite; LABVAULT_CHEMINVENTORY_BIG_ROWS=1000000 runs the full size.
BIG_ROWS = int(os.environ.get("LABVAULT_CHEMINVENTORY_BIG_ROWS", "300000"))

_MEASURE = """
import json, sys, time
from pathlib import Path
from labvault.plugin import InventoryRecord
from labvault_inventory_cheminventory import CheminventoryImporter, CheminventoryOptions

big, small = Path(sys.argv[1]), Path(sys.argv[2])
importer = CheminventoryImporter("stores", CheminventoryOptions().load({}), None)
with small.open("rb") as stream:  # every module the reading needs is imported now
    list(importer.read(stream, small.name))


def status(key):  # in KiB, from Linux's /proc
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])


Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) is now the current RSS
before = status("VmRSS")
started = time.monotonic()
records = problems = 0
last = None
with big.open("rb") as stream:
    for found in importer.read(stream, big.name):
        if isinstance(found, InventoryRecord):
            records += 1
            last = found
        else:
            problems += 1
seconds = time.monotonic() - started
peak = status("VmHWM")
print(json.dumps({
    "records": records, "problems": problems, "seconds": seconds,
    "rss_before_kib": before, "rss_peak_kib": peak, "rss_growth_kib": peak - before,
    "last": [last.external_id, dict(last.fields), last.row],
}))
"""


def measure_reading(path: Path, small: Path) -> dict[str, Any]:
    """Read ``path`` in a fresh Python process; what it yielded and how much its peak
    memory (RSS, from Linux's /proc, the peak reset before) grew while it did, after
    reading ``small`` loaded every module."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path), str(small)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    measured: dict[str, Any] = json.loads(done.stdout)
    measured["wall_seconds"] = time.monotonic() - started
    return measured
