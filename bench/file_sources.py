"""Listing a remote tree through the fs_ssh source, against OpenSSH's own ``find``.

Starts an sshd of its own on a loopback port (throwaway keys, the test helper of
plugins/fs_ssh), makes a tree of 100 folders x 100 files, and measures in the same run:

  fs_ssh walk   the whole tree walked with ``SshSource.list`` folder by folder, as the
                core does when it builds a listing, over one connection (opened before);
  fs_ssh cold   the same with the connection opened inside the timing (a fresh source);
  ssh find      ``ssh -p PORT -i KEY -o UserKnownHostsFile=KH HOST find ROOT -printf
                '%y %s %T@ %p\\n'``: one new connection and one remote process per run.

Each runs 5 times; the medians and the ratio walk / find are printed (target: within
2x). If the core's listing route exists, it also prints the p50 of a cached listing
page, ``GET /file-sources/<name>/entries?path=<a folder of 100 files>``, 200 requests
through the app's test client (target: under 20 ms). Figures are printed, not asserted.

Usage::

    .venv/bin/python bench/file_sources.py [--runs 5] [--folders 100] [--files 100]

Needs OpenSSH's server and client (``apt-get install -y openssh-server``).
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent / "plugins" / "fs_ssh" / "tests"))

from fs_ssh_peers import Keys, Sshd, source_options  # noqa: E402
from labvault.testing import free_port  # noqa: E402
from labvault_fs_ssh import SshSource  # noqa: E402

TARGET_RATIO = 2.0
TARGET_PAGE_P50_MS = 20.0
PAGE_REQUESTS = 200


def make_tree(root: Path, folders: int, files: int) -> int:
    for folder in range(folders):
        path = root / f"run-{folder:03d}"
        path.mkdir()
        for number in range(files):
            (path / f"scan-{number:03d}.xy").write_bytes(b"2theta intensity\n")
    return folders * files + folders


def walk(source: SshSource) -> int:
    """Every entry under the root, listed folder by folder like the core's listing."""
    count, folders = 0, [""]
    while folders:
        for entry in source.list(folders.pop()):
            count += 1
            if entry.is_dir and entry.link_target is None:
                folders.append(entry.path)
    return count


def timed(runs: int, call: Callable[[], int], expected: int, label: str) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        found = call()
        times.append(time.perf_counter() - started)
        if found != expected:
            print(f"  {label}: {found} entries, expected {expected}", file=sys.stderr)
    return times


def find_over_ssh(sshd: Sshd, root: Path) -> int:
    answer = subprocess.run(
        [
            "ssh", "-p", str(sshd.port), "-i", str(sshd.keys.user_key),
            "-o", f"UserKnownHostsFile={sshd.known_hosts}", "-o", "BatchMode=yes",
            "-o", "IdentitiesOnly=yes", "-l", sshd.keys.username, "127.0.0.1",
            f"find {root} -mindepth 1 -printf '%y %s %T@ %p\\n'",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return answer.stdout.count(b"\n")


def page_p50(sshd: Sshd, root: Path, folder: str, work: Path) -> float | None:
    """p50 in ms of a cached listing page, or None when the core has no listing route."""
    from labvault.app import create_app
    from labvault.migrations import create_schema

    settings: dict[str, Any] = {
        "IDENTIFIER_PREFIX": "bench",
        "SECRET_KEY": "bench-file-sources-secret-key-0123456789abcdef",
        "INSTANCE_PATH": str(work / "instance"),
        "PLUGINS": ["fs_ssh"],
        "FILE_SOURCES": {"xrd-pc": {"type": "ssh", **source_options(sshd, root)}},
    }
    app = create_app(settings)
    if not any(rule.rule.startswith("/file-sources/") for rule in app.url_map.iter_rules()):
        return None
    create_schema(app.extensions["labvault"].database.engine)
    headers = {"Authorization": f"Bearer {_token(app)}"}
    client = app.test_client()
    url = "/file-sources/xrd-pc/entries"
    query = {"path": folder, "page_size": 100}
    first = client.get(url, query_string=query, headers=headers)  # builds the listing
    if first.status_code != 200 or len(first.json["entries"]) != 100:
        raise RuntimeError(f"the listing page answered {first.status_code}: {first.json}")
    times = []
    for _ in range(PAGE_REQUESTS):
        started = time.perf_counter()
        answer = client.get(url, query_string=query, headers=headers)
        times.append(time.perf_counter() - started)
        assert answer.status_code == 200 and answer.json["refreshed"] is False
    app.extensions["labvault"].database.dispose()
    return statistics.median(times) * 1000


def _token(app: Any) -> str:
    from labvault.auth.models import Role
    from labvault.users.service import create_user
    from labvault.web.session import get_session

    with app.app_context():
        user = create_user(get_session(), "bench@example.org", role=Role("user"))
        token: str = app.extensions["labvault"].signer.issue(user.id, secrets.token_hex(16))
        return token


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--folders", type=int, default=100)
    parser.add_argument("--files", type=int, default=100)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-file-sources-") as folder:
        work = Path(folder)
        root = work / "tree"
        root.mkdir()
        entries = make_tree(root, args.folders, args.files)
        sshd = Sshd(work / "sshd", Keys.make(work / "keys"), free_port()).start()
        try:
            options = SshSource.OptionsSchema().load(source_options(sshd, root))

            def fresh_walk() -> int:
                source = SshSource("bench", options, None)  # type: ignore[arg-type]
                try:
                    return walk(source)
                finally:
                    source.close()

            source = SshSource("bench", options, None)  # type: ignore[arg-type]
            source.root()  # the connection, opened once
            warm = timed(args.runs, lambda: walk(source), entries, "fs_ssh walk")
            source.close()
            cold = timed(args.runs, fresh_walk, entries, "fs_ssh cold")
            find = timed(args.runs, lambda: find_over_ssh(sshd, root), entries, "ssh find")
            page = page_p50(sshd, root, "run-000", work)
            logins = sshd.logins()
        finally:
            sshd.stop()

    load = os.getloadavg()[0]
    print(f"tree: {entries} entries ({args.folders} folders x {args.files} files), "
          f"{args.runs} runs each, load {load:.2f}")  # fmt: skip
    median = {name: statistics.median(t) for name, t in
              (("walk", warm), ("cold", cold), ("find", find))}  # fmt: skip
    print(f"  {'case':<44} {'median':>9} {'min':>9}")
    for name, label, times in (
        ("walk", "fs_ssh walk (list per folder, open connection)", warm),
        ("cold", "fs_ssh walk, connecting inside the timing", cold),
        ("find", "ssh find -printf (new connection each run)", find),
    ):
        print(f"  {label:<44} {median[name] * 1000:7.0f} ms {min(times) * 1000:7.0f} ms")
    ratio = median["walk"] / median["find"]
    cold_ratio = median["cold"] / median["find"]
    print(f"ratio walk / find: {ratio:.2f} (target <= {TARGET_RATIO:g}); "
          f"cold walk / find: {cold_ratio:.2f}")  # fmt: skip
    print(f"sshd logins: {logins} (1 for the open walk, 1 per cold walk and per find, "
          f"1 for the API listing)")  # fmt: skip
    if page is None:
        print("cached listing page: the core has no /file-sources/<name>/entries route yet")
    else:
        print(f"cached listing page (100 entries), p50 of {PAGE_REQUESTS}: {page:.1f} ms "
              f"(target < {TARGET_PAGE_P50_MS:g} ms)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
