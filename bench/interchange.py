"""Exports to .eln of a lab's items and files, and imports of that export into a fresh
lab: throughput against ``zip`` and ``unzip`` of the same files, and peak memory.

Builds a lab as bench/backup.py does (``--items`` items made through the core's services
and copied in bulk, ``--files`` files of 4 KB to 8 MB, ``--store-mb`` in all, attached to
samples and cells; the contents are like a lab's: CSV columns, detector frames and
incompressible bytes), enables the ``interchange_eln`` plugin, then measures in the same
run, each command a process of its own:

  zip      ``zip -q -r -6 out.zip .`` in the file store: the baseline (deflate at zip's
           default level, as the export writes its entries), run before and after the
           export (the faster run counts);
  export   ``labvault export --user <a manager> --all --format eln`` as a deployer runs it
           (startup included): every item with its files, blocks and metadata;
  unzip    ``unzip -q`` of that archive into an empty folder (for reference);
  import   ``labvault import <archive> --user <a manager>`` into a fresh lab (its schema
           and the manager made first, not timed): every item made again, with its
           files (each checked against its sha256), blocks and links.

Throughput is the file store's bytes over the seconds; the goal is at least 0.8x zip's
(the issue's baseline, for both); the import's ratio to unzip's (which only unpacks:
no hashing, checking or database) is printed beside it.
Peak memory (max RSS) of the export is printed beside the store's size; with
``--rss-store-mb M`` a second lab with M MB of files (and the same items) is exported too,
and imported again, to show memory does not grow with the files.

    .venv/bin/python bench/interchange.py [--items 10000] [--store-mb 1024] [--files 1000]
        [--rss-store-mb 256] [--keep] [--quick]

``--quick``: 2,000 items, 100 files, 50 MB (for ``make bench``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import backup as lab_bench  # bench/backup.py builds the lab

MB = lab_bench.MB
MANAGER = "user4@lab.example"  # bench/backup.py makes every fourth user a manager
TARGET_RATIO = 0.8


def new_lab(root: Path, name: str) -> lab_bench.Lab:
    lab = lab_bench.Lab(root / name, f"sqlite:///{root / name / 'labvault.db'}", root / "repo", 6)
    lab.write_config()
    with lab.config.open("a") as config:
        config.write('PLUGINS = ["interchange_eln"]\n')
    return lab


def build(lab: lab_bench.Lab, root: Path, items: int, files: int, store_mb: int) -> int:
    built, _ = lab_bench.run_child(
        "build", lab, root, items=items, files=files, store_bytes=store_mb * MB, seed=7
    )
    print(
        f"{lab.folder.name}: {built['items']} items, {built['files']} contents in "
        f"{built['file_rows']} file rows, {built['store_bytes'] / MB:.0f} MB, built in "
        f"{built['seconds']:.0f} s",
        flush=True,
    )
    return int(built["store_bytes"])


def zipped(lab: lab_bench.Lab, root: Path) -> lab_bench.Run:
    out = root / "baseline.zip"
    run = lab_bench.measured(["zip", "-q", "-r", "-6", str(out), "."], None, lab.files, "zip")
    out.unlink()
    return run


def exported(lab: lab_bench.Lab, root: Path) -> tuple[lab_bench.Run, Path]:
    out = root / f"{lab.folder.name}.eln"
    arguments = ["export", "--user", MANAGER, "--all", "--format", "eln", "-o", str(out)]
    return lab_bench.labvault(lab, root, *arguments), out


def unzipped(archive: Path, root: Path) -> lab_bench.Run:
    out = root / "unzipped"
    out.mkdir()
    run = lab_bench.measured(["unzip", "-q", str(archive), "-d", str(out)], None, root, "unzip")
    shutil.rmtree(out)
    return run


def imported(archive: Path, root: Path, name: str = "fresh") -> lab_bench.Run:
    """The archive imported into a fresh lab by its manager (made first, not timed)."""
    fresh = new_lab(root, name)
    for arguments in (("db", "upgrade"), ("users", "create", MANAGER, "--role", "manager")):
        made = lab_bench.labvault(fresh, root, *arguments)
        assert "Traceback" not in made.stderr, made.stderr
    run = lab_bench.labvault(fresh, root, "import", str(archive), "--user", MANAGER)
    if "items created" not in run.stdout:
        raise SystemExit(f"the import failed:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
    return run


def described(archive: Path) -> str:
    with zipfile.ZipFile(archive) as opened:
        names = opened.namelist()
    folders = {name.split("/")[1] for name in names if name.count("/") >= 2}
    size = archive.stat().st_size / MB
    return f"{len(folders)} item folders, {len(names)} entries, {size:.0f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--store-mb", type=int, default=1024)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--rss-store-mb", type=int, default=0, help="a second lab (memory)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--quick", action="store_true", help="2000 items, 100 files, 50 MB")
    args = parser.parse_args()
    if args.quick:
        args.items, args.files, args.store_mb = 2000, 100, 50
    root = Path(tempfile.mkdtemp(prefix="lv-bench-eln-", dir="/tmp"))
    (root / "tmp").mkdir()
    try:
        print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
        lab = new_lab(root, "lab")
        store_bytes = build(lab, root, args.items, args.files, args.store_mb)
        baseline = min((zipped(lab, root) for _ in range(2)), key=lambda run: run.seconds)
        export, archive = exported(lab, root)
        print(f"archive: {described(archive)}")
        ratio = baseline.seconds / export.seconds
        print(f"zip     {baseline.seconds:7.1f} s  {store_bytes / MB / baseline.seconds:6.1f} MB/s")
        print(
            f"export  {export.seconds:7.1f} s  {store_bytes / MB / export.seconds:6.1f} MB/s  "
            f"{ratio:.2f}x zip (goal >= {TARGET_RATIO}x)  peak {export.peak_mb:.0f} MB",
            flush=True,
        )
        unpacked = min((unzipped(archive, root) for _ in range(2)), key=lambda run: run.seconds)
        imported_run = imported(archive, root)
        import_ratio = unpacked.seconds / imported_run.seconds
        print(f"unzip   {unpacked.seconds:7.1f} s  {store_bytes / MB / unpacked.seconds:6.1f} MB/s")
        print(
            f"import  {imported_run.seconds:7.1f} s  "
            f"{store_bytes / MB / imported_run.seconds:6.1f} MB/s  "
            f"{baseline.seconds / imported_run.seconds:.2f}x zip (goal >= {TARGET_RATIO}x), "
            f"{import_ratio:.2f}x unzip  "
            f"peak {imported_run.peak_mb:.0f} MB",
            flush=True,
        )
        if args.rss_store_mb:
            other = new_lab(root, "second")
            other_bytes = build(other, root, args.items, args.files, args.rss_store_mb)
            second, second_archive = exported(other, root)
            second_import = imported(second_archive, root, "second-fresh")
            print(
                f"memory: {store_bytes / MB:.0f} MB of files -> export peak "
                f"{export.peak_mb:.0f} MB, import peak {imported_run.peak_mb:.0f} MB; "
                f"{other_bytes / MB:.0f} MB -> export peak {second.peak_mb:.0f} MB, import "
                f"peak {second_import.peak_mb:.0f} MB"
            )
        print(f"load average {os.getloadavg()[0]:.1f}")
        print("export: " + ("MET" if ratio >= TARGET_RATIO else "NOT MET"))
        zip_ratio = baseline.seconds / imported_run.seconds
        print("import: " + ("MET" if zip_ratio >= TARGET_RATIO else "NOT MET"))
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
