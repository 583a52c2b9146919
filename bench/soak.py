"""A soak: gunicorn with 4 workers on MariaDB, every plugin on, five minutes of mixed load.

Everything runs on loopback in a temporary folder, and everything it starts is stopped
at the end (also on Ctrl-C):

  database      a fresh ``lv_soak_<random>`` database on the MariaDB server (dropped at
                the end), brought up to date with ``labvault db upgrade``;
  peers         a real sshd serving a folder tree (the fs_ssh test helper), moto's S3
                server (ThreadedMotoServer) with a bucket for the ``backup_s3`` target,
                and a loopback port nothing answers on for SMTP and the OAuth providers
                (auth_email, auth_github, auth_orcid, auth_oidc only need to load);
  server        ``labvault serve --workers 4`` (gunicorn) in its own process group, with
                every plugin in plugins/ enabled; users made with ``labvault users
                create``, their tokens with ``labvault tokens issue``.

The load comes from a separate process (``--clients`` threads, each signed in as one of
two ordinary users), which first creates ``--items`` items through the API, warms up
(also asking the admin's GET /backups/<strategy> a few times, as the mid-run backup does
while it waits), then for ``--duration`` seconds picks requests at random:

  get       GET /items/<refcode>
  list      GET /items?page=N&page_size=20
  search    GET /items?q=<word>&page_size=20
  edit      PATCH /items/<refcode> of a few "hot" items, If-Match the ETag just read;
            on 412 again with the ETag the 412 carries; every 200 is remembered with
            its value and version (the ETag's)
  upload    POST /items/<refcode>/files, 1-32 KiB, to the same hot items (so uploads
            race edits); every 201 is remembered with the content's sha256
  download  GET /files/<id>/content of a remembered upload; the bytes are compared
  listing   GET /file-sources/<ssh source>/entries?path=<folder> (a quarter of them
            with refresh=true, so listings are rebuilt over SSH during the run)

and once, in the middle, an inventory import (POST /inventory/imports as a manager, a
ChemInventory CSV export of ``--inventory-rows`` rows) and a backup (POST
/backups/<strategy> as an admin, into the S3 bucket, waited for with GET).

Measured: requests by kind, throughput, p50/p99 per kind, every 5xx (count and the
first bodies, with the server's log lines), connection errors and timeouts, and the
workers' memory (the sum of their RSS from /proc, after the warm-up and at the end).
Afterwards every acknowledged edit is checked: the last one of each item (by version)
is its final state, a sample of all of them is in the item's history at its version,
and each edited item has one version per number; every acknowledged upload must be
listed on its item.

Targets: zero 5xx; no connection errors; zero lost updates (edits and uploads, and
every download equal to what was uploaded); worker memory growth under 10%; the import
and the backup in the middle succeeded. The exit status is 1 when one is missed. The
worker that runs the backup keeps about 30 MB more afterwards (its S3 client, the
dump's buffers); the others stay flat, as the memory trace printed shows. On a short
run that one-time step is most of the growth, so judge memory on the full five minutes.

    .venv/bin/python bench/soak.py [--duration 300] [--clients 8] [--items 200]
        [--inventory-rows 1000] [--mariadb-url URL] [--keep]

Needs the MariaDB server (127.0.0.1:3306, root, by default), OpenSSH's sshd
(``apt-get install -y openssh-server``) and moto (``pip install -e
'plugins/backup_s3[test]'``). ``--duration 20`` is a quick check (about a minute in all).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(ROOT / "plugins" / "fs_ssh" / "tests"))

import api  # noqa: E402  (bench/api.py: its databases and servers)

DEFAULT_MARIADB = "mysql+pymysql://root@127.0.0.1:3306/?charset=utf8mb4"
SECRET_KEY = "bench-soak-secret-key-0123456789abcdefghijklmn"
SOURCE = "instrument"
IMPORTER = "stores"
STRATEGY = "offsite"
BUCKET = "soak-backups"
S3_KEY_ID, S3_SECRET = "AKIDSOAKTESTING", "soak-testing-secret"
WORKERS = 4
TARGET_MEMORY_GROWTH = 10.0
KINDS = ("get", "list", "search", "edit", "upload", "download", "listing")
WEIGHTS = (24, 12, 12, 20, 10, 12, 10)
EVENT_KINDS = ("import", "backup")
#: Statuses each kind answers when all is well (412: an edit raced another and is retried).
EXPECTED = {
    "edit": (200, 412),
    "upload": (201,),
    "import": (201,),
    "backup": (200, 202),
    "seed": (201,),
}
_TEXT = """anneal calcined sintered milled pellet powder film cathode anode electrolyte
    binder carbon lithium sodium cobalt nickel manganese phosphate oxide slurry coating
    vacuum argon furnace xrd sem impedance cycling capacity batch reference"""
WORDS = _TEXT.split()
FOLDERS, FILES_PER_FOLDER = 20, 25
SAMPLES = 5  # bodies kept of each kind of failure
HISTORY_CHECKS = 400  # acknowledged edits looked up in their item's history
#: The status in a line of gunicorn's access log ("GET /items HTTP/1.1" 200 ...).
ACCESS_STATUS = re.compile(r'HTTP/1\.[01]" (\d{3}) ')
#: A warning or an error in the app's log ("[2026-01-01 10:00:00,000] WARNING in db: ...").
LOG_PROBLEM = re.compile(r"\[[^]]+\] ((?:WARNING|ERROR|CRITICAL) in .*)")


# --- the plan the load process follows ---------------------------------------------------


@dataclass
class Plan:
    base: str
    tokens: dict[str, str]  # user0, user1 (the clients), manager (import), admin (backup)
    clients: int
    duration: float
    warmup: float
    items: int
    hot_items: int
    folders: list[str]
    inventory_csv: str
    inventory_rows: int
    result_path: str
    seed: int


# --- the load process ----------------------------------------------------------------


@dataclass
class KindStats:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    connection_errors: int = 0
    unexpected: int = 0


class Recorder:
    """Every request's kind, status and time, by the phase it started in (seed, warmup,
    measure, verify). Threads share it."""

    PHASES = ("seed", "warmup", "measure", "verify")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.starts = [float("inf")] * 3  # when warmup, measure and verify start
        self.phases: dict[str, dict[str, KindStats]] = {phase: {} for phase in self.PHASES}
        self.server_errors: list[dict[str, Any]] = []
        self.connection_samples: list[str] = []
        self.unexpected_samples: list[str] = []
        self.client_errors: list[str] = []  # answers the soak could not read
        self.integrity: list[str] = []  # downloads or listings that differ

    def begin(self, phase: str) -> float:
        now = time.monotonic()
        self.starts[self.PHASES.index(phase) - 1] = now
        return now

    def stats(self, kind: str, started: float) -> KindStats:
        phase = self.PHASES[sum(started >= start for start in self.starts)]
        return self.phases[phase].setdefault(kind, KindStats())

    def response(self, kind: str, what: str, started: float, status: int, body: str) -> None:
        elapsed = (time.monotonic() - started) * 1000
        with self.lock:
            stats = self.stats(kind, started)
            stats.latencies_ms.append(elapsed)
            stats.statuses[status] += 1
            if status >= 500:
                self.server_errors.append(
                    {"kind": kind, "request": what, "status": status, "body": body[:500]}
                )
            elif status not in EXPECTED.get(kind, (200,)):
                stats.unexpected += 1
                if len(self.unexpected_samples) < SAMPLES * 4:
                    self.unexpected_samples.append(f"{what} -> {status} {body[:300]}")

    def connection_error(self, kind: str, what: str, started: float, error: Exception) -> None:
        with self.lock:
            self.stats(kind, started).connection_errors += 1
            if len(self.connection_samples) < SAMPLES * 4:
                self.connection_samples.append(f"{what}: {type(error).__name__}: {error}"[:400])

    def client_error(self, kind: str, error: Exception) -> None:
        with self.lock:
            self.client_errors.append(f"{kind}: {type(error).__name__}: {error}"[:400])

    def wrong(self, message: str) -> None:
        with self.lock:
            self.integrity.append(message)

    def totals(self) -> dict[str, dict[str, int]]:
        """Requests, 5xx and connection errors of each phase."""
        return {
            phase: {
                "requests": sum(len(s.latencies_ms) for s in kinds.values()),
                "5xx": sum(n for s in kinds.values() for c, n in s.statuses.items() if c >= 500),
                "connection_errors": sum(s.connection_errors for s in kinds.values()),
            }
            for phase, kinds in self.phases.items()
        }


class Client:
    """One signed-in user's HTTP session; every call is recorded under its kind."""

    def __init__(self, base: str, token: str, recorder: Recorder) -> None:
        import requests

        self.base = base
        self.recorder = recorder
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.request_error = requests.RequestException

    def call(
        self, kind: str, method: str, path: str, *, timeout: float = 60, **options: Any
    ) -> Any:
        """The response, or None after a connection error or a timeout."""
        what = f"{method} {path}"
        started = time.monotonic()
        try:
            response = self.session.request(method, self.base + path, timeout=timeout, **options)
        except self.request_error as error:
            self.recorder.connection_error(kind, what, started, error)
            return None
        body = "" if response.status_code < 300 else response.text
        self.recorder.response(kind, what, started, response.status_code, body)
        return response


@dataclass
class Upload:
    refcode: str
    file_id: int
    sha256: str


class Workload:
    """What the clients share: the items, and what the server acknowledged."""

    def __init__(self, plan: Plan, recorder: Recorder) -> None:
        self.plan = plan
        self.recorder = recorder
        self.users = ["user0", "user1"]
        self.items: dict[str, list[str]] = {user: [] for user in self.users}
        self.hot: dict[str, list[str]] = {user: [] for user in self.users}
        self.owner: dict[str, str] = {}
        self.lock = threading.Lock()
        self.edits: list[tuple[str, int, str]] = []  # refcode, version, value
        self.uploads: dict[str, list[Upload]] = {user: [] for user in self.users}
        self.conflicts = 0
        self.downloads_compared = 0
        self.stop_at = 0.0

    def client(self, user: str) -> Client:
        return Client(self.plan.base, self.plan.tokens[user], self.recorder)

    # seeding

    def seed(self) -> None:
        """``plan.items`` samples, half by each user, made through the API."""
        per_user = self.plan.items // len(self.users)
        rng = random.Random(self.plan.seed)
        jobs = [
            (user, n, " ".join(rng.choices(WORDS, k=12)))
            for user in self.users
            for n in range(per_user)
        ]
        clients = {user: self.client(user) for user in self.users}
        with ThreadPoolExecutor(4) as pool:
            refcodes = list(pool.map(lambda job: self._create(clients[job[0]], *job), jobs))
        for (user, number, _), refcode in zip(jobs, refcodes, strict=True):
            if refcode is None:
                raise SystemExit(f"seeding failed: {self.recorder.server_errors[-1:]}")
            self.items[user].append(refcode)
            self.owner[refcode] = user
            if number < self.plan.hot_items:
                self.hot[user].append(refcode)

    def _create(self, client: Client, user: str, number: int, text: str) -> str | None:
        body = {
            "type": "sample",
            "name": f"{user} sample {number}",
            "description": text,
            "chemical_formula": "LiFePO4",
        }
        response = client.call("seed", "POST", "/items", json=body)
        return response.json()["refcode"] if response is not None and response.ok else None

    # the clients

    def run_client(self, number: int) -> None:
        user = self.users[number % len(self.users)]
        client = self.client(user)
        rng = random.Random(self.plan.seed * 1000 + number)
        operations = {
            "get": self.get,
            "list": self.list_page,
            "search": self.search,
            "edit": self.edit,
            "upload": self.upload,
            "download": self.download,
            "listing": self.listing,
        }
        count = 0
        while time.monotonic() < self.stop_at:
            kind = rng.choices(KINDS, WEIGHTS)[0]
            try:
                operations[kind](client, user, rng, f"c{number}-{count}")
            except Exception as error:  # an answer without what it should carry
                self.recorder.client_error(kind, error)
            count += 1

    def get(self, client: Client, user: str, rng: random.Random, _: str) -> None:
        client.call("get", "GET", f"/items/{rng.choice(self.items[user])}")

    def list_page(self, client: Client, user: str, rng: random.Random, _: str) -> None:
        client.call("list", "GET", f"/items?page={rng.randint(1, 5)}&page_size=20")

    def search(self, client: Client, user: str, rng: random.Random, _: str) -> None:
        client.call("search", "GET", f"/items?q={rng.choice(WORDS)}&page_size=20")

    def edit(self, client: Client, user: str, rng: random.Random, label: str) -> None:
        refcode = rng.choice(self.hot[user])
        read = client.call("get", "GET", f"/items/{refcode}")
        if read is None or read.status_code != 200:
            return
        etag, value = read.headers["ETag"], f"soak edit {label}"
        for _ in range(50):
            answer = client.call(
                "edit",
                "PATCH",
                f"/items/{refcode}",
                json={"description": value},
                headers={"If-Match": etag},
            )
            if answer is None:
                return
            if answer.status_code == 412:
                with self.lock:
                    self.conflicts += 1
                etag = answer.headers["ETag"]
                continue
            if answer.status_code == 200:
                version = int(answer.headers["ETag"].strip('"').rsplit("@", 1)[1])
                with self.lock:
                    self.edits.append((refcode, version, value))
            return
        self.recorder.wrong(f"edit of {refcode}: 50 answers of 412 in a row")

    def upload(self, client: Client, user: str, rng: random.Random, label: str) -> None:
        refcode = rng.choice(self.hot[user])
        content = rng.randbytes(rng.randint(1024, 32 * 1024))
        files = {"file": (f"soak-{label}.bin", content, "application/octet-stream")}
        answer = client.call("upload", "POST", f"/items/{refcode}/files", files=files)
        if answer is not None and answer.status_code == 201:
            body = answer.json()
            if body["sha256"] != hashlib.sha256(content).hexdigest():
                self.recorder.wrong(f"upload {label}: stored as sha256 {body['sha256']}")
            with self.lock:
                self.uploads[user].append(
                    Upload(refcode, body["id"], hashlib.sha256(content).hexdigest())
                )

    def download(self, client: Client, user: str, rng: random.Random, _: str) -> None:
        with self.lock:
            if not self.uploads[user]:
                return
            upload = rng.choice(self.uploads[user])
        answer = client.call("download", "GET", f"/files/{upload.file_id}/content")
        if answer is not None and answer.status_code == 200:
            got = hashlib.sha256(answer.content).hexdigest()
            with self.lock:
                self.downloads_compared += 1
            if got != upload.sha256:
                self.recorder.wrong(f"file {upload.file_id}: downloaded sha256 {got}")

    def listing(self, client: Client, user: str, rng: random.Random, _: str) -> None:
        folder = rng.choice(self.plan.folders)
        refresh = "true" if rng.random() < 0.25 else "false"
        path = f"/file-sources/{SOURCE}/entries?path={folder}&refresh={refresh}&page_size=100"
        answer = client.call("listing", "GET", path)
        if answer is not None and answer.status_code == 200:
            found = len(answer.json()["entries"])
            if found != FILES_PER_FOLDER:
                self.recorder.wrong(f"listing of {folder}: {found} entries")

    # once, in the middle

    def mid_run(self, at: float, results: dict[str, Any]) -> None:
        time.sleep(max(0.0, at - time.monotonic()))
        try:
            self._import_and_back_up(results)
        except Exception as error:  # an answer without what it should carry
            self.recorder.client_error("mid-run", error)

    def _import_and_back_up(self, results: dict[str, Any]) -> None:
        manager = self.client("manager")
        content = Path(self.plan.inventory_csv).read_bytes()
        started = time.monotonic()
        answer = manager.call(
            "import",
            "POST",
            "/inventory/imports",
            files={"file": ("export.csv", content, "text/csv")},
            data={"importer": IMPORTER},
            timeout=300,
        )
        results["import"] = _event(answer, started)
        admin = self.client("admin")
        started = time.monotonic()
        answer = admin.call("backup", "POST", f"/backups/{STRATEGY}")
        if answer is not None and answer.status_code == 202:  # it runs on in the server
            answer = self._finished_backup(admin)
        results["backup"] = _event(answer, started)

    @staticmethod
    def _finished_backup(admin: Any) -> Any:
        """The strategy's state (GET /backups/<strategy>) once its run has ended."""
        deadline = time.monotonic() + 600
        while True:
            time.sleep(1)
            state = admin.call("backup", "GET", f"/backups/{STRATEGY}")
            if state is None or state.status_code != 200 or not state.json()["running"]:
                return state
            if time.monotonic() > deadline:
                return state

    # afterwards

    def verify(self) -> dict[str, Any]:
        """Lost updates: edits not in the final state or the history, uploads not listed."""
        clients = {user: self.client(user) for user in self.users}
        lost: list[str] = []
        last: dict[str, tuple[int, str]] = {}
        for refcode, version, value in self.edits:
            if refcode not in last or version > last[refcode][0]:
                last[refcode] = (version, value)
        for refcode, (version, value) in sorted(last.items()):
            client = clients[self.owner[refcode]]
            item = client.call("verify", "GET", f"/items/{refcode}")
            if item is None or item.status_code != 200:
                lost.append(f"{refcode}: cannot be read to check it")
                continue
            final = int(item.headers["ETag"].strip('"').rsplit("@", 1)[1])
            if item.json()["description"] != value or final < version:
                lost.append(
                    f"{refcode}: the last acknowledged edit (version {version}) set "
                    f"{value!r}; the item (version {final}) says {item.json()['description']!r}"
                )
            history = client.call("verify", "GET", f"/items/{refcode}/versions?page_size=1")
            if history is not None and history.status_code == 200:
                # newest first; past 1,000 versions the total is a lower bound (paging)
                paging = json.loads(history.headers["X-Pagination"])
                newest = history.json()[0]["number"] if history.json() else 0
                if newest != final or (paging["total_exact"] and paging["total"] != final):
                    lost.append(
                        f"{refcode}: {paging['total']} versions kept, the newest {newest}; "
                        f"the item is at version {final}"
                    )
        rng = random.Random(self.plan.seed)
        checked = rng.sample(self.edits, min(HISTORY_CHECKS, len(self.edits)))
        for refcode, version, value in checked:
            answer = clients[self.owner[refcode]].call(
                "verify", "GET", f"/items/{refcode}/versions/{version}"
            )
            if answer is None or answer.status_code != 200:
                lost.append(f"{refcode}: version {version} of an acknowledged edit is missing")
            elif answer.json()["snapshot"].get("description") != value:
                lost.append(
                    f"{refcode}: version {version} holds "
                    f"{answer.json()['snapshot'].get('description')!r}, acknowledged {value!r}"
                )
        missing = self._missing_uploads(clients)
        return {
            "lost_edits": lost,
            "missing_uploads": missing,
            "edits": len(self.edits),
            "edited_items": len(last),
            "history_checked": len(checked),
            "uploads": sum(len(u) for u in self.uploads.values()),
        }

    def _missing_uploads(self, clients: dict[str, Client]) -> list[str]:
        missing = []
        for user, uploads in self.uploads.items():
            by_item: dict[str, set[int]] = {}
            for upload in uploads:
                by_item.setdefault(upload.refcode, set()).add(upload.file_id)
            for refcode, ids in sorted(by_item.items()):
                listed: set[int] = set()
                page = 1
                while True:
                    answer = clients[user].call(
                        "verify", "GET", f"/items/{refcode}/files?page={page}&page_size=100"
                    )
                    if answer is None or answer.status_code != 200:
                        break
                    listed |= {entry["id"] for entry in answer.json()}
                    if not json.loads(answer.headers["X-Pagination"]).get("next_page"):
                        break
                    page += 1
                missing += [f"{refcode}: file {i} not listed" for i in sorted(ids - listed)]
        return missing


def _event(answer: Any, started: float) -> dict[str, Any]:
    seconds = time.monotonic() - started
    if answer is None:
        return {"status": None, "seconds": seconds, "body": "connection error"}
    body = answer.json() if answer.headers.get("Content-Type") == "application/json" else {}
    return {"status": answer.status_code, "seconds": seconds, "body": body}


def run_load(plan: Plan, warmed: Any, finished: Any) -> None:
    """The load process: seed, warm up (then ``warmed``), measure (then ``finished``),
    verify; the results go to ``plan.result_path`` as JSON."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C: the parent cleans up
    recorder = Recorder()
    work = Workload(plan, recorder)
    work.seed()
    events: dict[str, Any] = {}
    started = recorder.begin("warmup")
    work.stop_at = started + plan.warmup + plan.duration
    threads = [
        threading.Thread(target=work.run_client, args=(n,), daemon=True)
        for n in range(plan.clients)
    ]
    for thread in threads:
        thread.start()
    # what the mid-run backup asks while it waits, asked now too: each worker makes its
    # S3 client (botocore's models, ~17 MB) in the warm-up, as it reads its first item
    admin = work.client("admin")
    for _ in range(3 * WORKERS):
        admin.call("backup", "GET", f"/backups/{STRATEGY}")
    time.sleep(max(0.0, started + plan.warmup - time.monotonic()))
    measure_from = recorder.begin("measure")
    warmed.set()
    middle = threading.Thread(
        target=work.mid_run, args=(measure_from + plan.duration / 2, events), daemon=True
    )
    middle.start()
    for thread in [*threads, middle]:
        thread.join()
    measured_seconds = recorder.begin("verify") - measure_from
    finished.set()
    verified = work.verify()
    result = {
        "seconds": measured_seconds,
        "kinds": {
            kind: {**asdict(stats), "statuses": dict(stats.statuses)}
            for kind, stats in recorder.phases["measure"].items()
        },
        "phases": recorder.totals(),
        "server_errors": recorder.server_errors,
        "connection_samples": recorder.connection_samples,
        "unexpected_samples": recorder.unexpected_samples,
        "client_errors": recorder.client_errors,
        "integrity": recorder.integrity,
        "conflicts": work.conflicts,
        "downloads_compared": work.downloads_compared,
        "events": events,
        "verified": verified,
    }
    Path(plan.result_path).write_text(json.dumps(result))


# --- peers, database and server ------------------------------------------------------


@contextlib.contextmanager
def s3_server() -> Iterator[str]:
    """moto's S3 server on loopback, with the bucket the backups go to."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        boto3.session.Session(
            aws_access_key_id=S3_KEY_ID, aws_secret_access_key=S3_SECRET, region_name="us-east-1"
        ).client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.stop()


@contextlib.contextmanager
def ssh_server(folder: Path) -> Iterator[dict[str, Any]]:
    """A real sshd serving a tree of FOLDERS x FILES_PER_FOLDER; the source's options."""
    from fs_ssh_peers import Keys, Sshd, source_options
    from labvault.testing import free_port

    tree = folder / "tree"
    for number in range(FOLDERS):
        run = tree / f"run-{number:02d}"
        run.mkdir(parents=True)
        for scan in range(FILES_PER_FOLDER):
            (run / f"scan-{scan:03d}.xy").write_bytes(b"2theta intensity\n10.0 42\n")
    sshd = Sshd(folder / "sshd", Keys.make(folder / "keys"), free_port()).start()
    try:
        yield {"type": "ssh", **source_options(sshd, tree)}
    finally:
        sshd.stop()


def write_config(folder: Path, url: str, source: dict[str, Any], s3: str, lifetime: int) -> Path:
    from labvault.testing import free_port

    nobody = f"http://127.0.0.1:{free_port()}"  # nothing answers there: the providers only load
    settings: dict[str, Any] = {
        "IDENTIFIER_PREFIX": "soak",
        "SECRET_KEY": SECRET_KEY,
        "INSTANCE_PATH": str(folder / "instance"),
        "DATABASE_URL": url,
        "FILE_DIRECTORY": str(folder / "files"),
        "ACCESS_TOKEN_LIFETIME": lifetime,
        "PLUGINS": plugin_names(),
        "PUBLIC_URL": "https://soak.example",  # the providers need one; nobody signs in
        "AUTH_PROVIDERS": {
            "github": {
                "type": "github",
                "client_id": "soak-client",
                "client_secret": "soak-client-secret",
                "web_url": nobody,
                "api_url": f"{nobody}/api/v3",
            },
            "orcid": {
                "type": "orcid",
                "client_id": "APP-SOAKSOAKSOAKSOAK",
                "client_secret": "soak-client-secret",
                "issuer": f"{nobody}/orcid",
            },
            "uni": {
                "type": "oidc",
                "issuer": f"{nobody}/oidc",
                "client_id": "labvault",
                "client_secret": "soak-client-secret",
            },
            "mail": {
                "type": "email",
                "host": "127.0.0.1",
                "port": int(nobody.rsplit(":", 1)[1]),
                "security": "none",
                "sender": "labvault <noreply@soak.example>",
                "timeout": 2,
            },
        },
        "FILE_SOURCES": {SOURCE: source},
        "REMOTE_CACHE_MAX_AGE": 0.5,
        "REMOTE_CACHE_MIN_AGE": 0.05,
        "INVENTORY_IMPORTERS": {IMPORTER: {"type": "cheminventory"}},
        "BACKUP_STRATEGIES": {
            STRATEGY: {
                "target": {
                    "type": "s3",
                    "bucket": BUCKET,
                    "endpoint_url": s3,
                    "region": "us-east-1",
                    "access_key_id": S3_KEY_ID,
                    "secret_access_key": S3_SECRET,
                    "addressing_style": "path",
                },
                "frequency": "1d",
                "retention": 3,
            }
        },
    }
    config = folder / "config.py"
    config.write_text("".join(f"{name} = {value!r}\n" for name, value in settings.items()))
    return config


def environment(config: Path) -> dict[str, str]:
    """The server's and the CLI's environment: this config, and no AWS setup of the
    person running the soak."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABVAULT_", "AWS_"))}
    env.update(
        LABVAULT_CONFIG=str(config),
        AWS_CONFIG_FILE=str(config.parent / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(config.parent / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def labvault(env: dict[str, str], cwd: Path, *arguments: str) -> str:
    script = Path(sys.executable).with_name("labvault")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "labvault"]
    done = subprocess.run(
        [*command, *arguments], env=env, cwd=cwd, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"labvault {' '.join(arguments)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout.strip()


class Server(api.Server):
    """``labvault serve --workers 4`` in its own process group, stopped with its workers."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        script = Path(sys.executable).with_name("labvault")
        command = [str(script)] if script.exists() else [sys.executable, "-m", "labvault"]
        argv = [*command, "serve", "--workers", str(WORKERS), "--bind", "{bind}"]
        super().__init__("server", argv, env, cwd)

    def wait_serving(self, timeout: float = 90) -> None:
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.base}/health/ready", timeout=5) as answer,
            ):
                if answer.status == 200 and len(self.workers()) == WORKERS:
                    return
            time.sleep(0.3)
        raise SystemExit(f"the server did not start:\n{self.log.read_text()[-3000:]}")

    def workers(self) -> list[int]:
        """The gunicorn workers: the master's children."""
        found = []
        for entry in os.listdir("/proc"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.process.pid:
                    found.append(int(entry))
        return sorted(found)

    def memory(self) -> dict[int, float]:
        """Each worker's RSS in MB."""
        sizes = {}
        for pid in self.workers():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        sizes[pid] = int(line.split()[1]) / 1024
        return sizes

    def error_lines(self, limit: int = 120) -> list[str]:
        """The server log's errors, warnings and tracebacks, and its access lines of 5xx."""
        kept = []
        for line in self.log.read_text(errors="replace").splitlines():
            access = ACCESS_STATUS.search(line)
            if (access and access[1] < "500") or "[INFO]" in line:
                continue
            kept.append(line if len(line) < 1000 else f"{line[:1000]} ...")
        return kept[:limit]

    def warnings(self) -> Counter[str]:
        """The log's warnings and errors, by their first words (Flask's log format)."""
        found = Counter[str]()
        for line in self.log.read_text(errors="replace").splitlines():
            if match := LOG_PROBLEM.match(line):
                found[match[1][:150]] += 1
        return found


# --- the run -------------------------------------------------------------------------


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (share 0.5: the median)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


def soak(options: argparse.Namespace, folder: Path, stack: contextlib.ExitStack) -> int:
    from inventory import write_export  # bench/inventory.py

    print(f"preparing in {folder}: database, sshd, S3 (moto), config ...", flush=True)
    url = stack.enter_context(api.bench_database("mariadb", folder, options.mariadb_url))
    source = stack.enter_context(ssh_server(folder / "ssh"))
    s3 = stack.enter_context(s3_server())
    lifetime = int((options.duration + options.warmup) / 60) + 30
    config = write_config(folder, url, source, s3, lifetime)
    env = environment(config)
    print(labvault(env, folder, "db", "upgrade"), flush=True)
    tokens = {}
    for name, role in (("user0", "user"), ("user1", "user"), ("manager", "manager")):
        labvault(env, folder, "users", "create", f"{name}@soak.example", "--role", role)
        tokens[name] = labvault(env, folder, "tokens", "issue", "--user", f"{name}@soak.example")
    labvault(env, folder, "users", "create", "admin@soak.example", "--role", "admin")
    tokens["admin"] = labvault(env, folder, "tokens", "issue", "--user", "admin@soak.example")
    export = folder / "export.csv"
    write_export(export, options.inventory_rows)

    server = Server(env, folder)
    stack.callback(server.stop)
    server.wait_serving()
    plugins = ", ".join(plugin_names())
    print(f"serving {server.base} with {WORKERS} workers; plugins: {plugins}", flush=True)

    plan = Plan(
        base=server.base,
        tokens=tokens,
        clients=options.clients,
        duration=options.duration,
        warmup=options.warmup,
        items=options.items,
        hot_items=options.hot_items,
        folders=[f"run-{n:02d}" for n in range(FOLDERS)],
        inventory_csv=str(export),
        inventory_rows=options.inventory_rows,
        result_path=str(folder / "result.json"),
        seed=options.seed,
    )
    context = multiprocessing.get_context("spawn")  # moto's threads run here: no fork
    warmed, finished = context.Event(), context.Event()
    load = context.Process(target=run_load, args=(plan, warmed, finished), name="soak-load")
    load.start()
    stack.callback(_stop_process, load)
    print(
        f"load: {options.clients} clients, {options.items} items ({options.hot_items} hot per "
        f"user), {options.warmup:g} s warm-up, {options.duration:g} s measured ...",
        flush=True,
    )
    before = after = None
    load_average: list[float] = []
    trace: list[tuple[float, float]] = []  # seconds into the measured time, MB of all workers
    every, next_sample = max(5.0, options.duration / 10), 0.0
    while load.is_alive():
        load.join(timeout=1)
        if before is None and warmed.is_set():
            before, measure_from = server.memory(), time.monotonic()
            next_sample = measure_from + every
        if after is None and finished.is_set():
            after = server.memory()
        if before is not None and after is None:
            load_average.append(os.getloadavg()[0])
            if time.monotonic() >= next_sample:
                trace.append((time.monotonic() - measure_from, sum(server.memory().values())))
                next_sample += every
    if load.exitcode in (-signal.SIGINT, -signal.SIGTERM):
        raise KeyboardInterrupt
    if load.exitcode != 0 or not Path(plan.result_path).exists():
        print(f"the load process failed ({load.exitcode})", file=sys.stderr)
        print("\n".join(server.error_lines(60)), file=sys.stderr)
        return 1
    result = json.loads(Path(plan.result_path).read_text())
    return report(options, result, before, after, trace, load_average, server)


def plugin_names() -> list[str]:
    """Every plugin of this repository (each folder of plugins/ is one)."""
    return sorted(p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists())


def _stop_process(process: Any) -> None:
    if process.is_alive():
        process.terminate()
        process.join(10)
    if process.is_alive():
        process.kill()
        process.join()


def report(
    options: argparse.Namespace,
    result: dict[str, Any],
    before: dict[int, float] | None,
    after: dict[int, float] | None,
    trace: list[tuple[float, float]],
    load_average: list[float],
    server: Server,
) -> int:
    seconds = result["seconds"]
    kinds = result["kinds"]
    print(
        f"\n{options.duration:g} s measured ({seconds:.0f} s until the last request ended), "
        f"{options.clients} clients, {os.cpu_count()} CPUs, load average "
        f"{statistics.mean(load_average or [0]):.2f} during the run"
    )
    header = f"{'kind':<10}{'requests':>9}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}"
    print(header + f"{'5xx':>6}{'conn err':>9}{'other':>7}  statuses")
    total = Counter[str]()
    for kind in (*KINDS, *EVENT_KINDS):
        if kind not in kinds:
            continue
        stats = kinds[kind]
        latencies, statuses = stats["latencies_ms"], stats["statuses"]
        five = sum(n for code, n in statuses.items() if int(code) >= 500)
        total.update(
            requests=len(latencies), five=five, conn=stats["connection_errors"],
            other=stats["unexpected"],
        )  # fmt: skip
        shown = ", ".join(f"{code}: {n}" for code, n in sorted(statuses.items()))
        print(
            f"{kind:<10}{len(latencies):>9}{len(latencies) / seconds:>8.1f}"
            f"{percentile(latencies, 0.5):>9.1f}{percentile(latencies, 0.99):>9.1f}"
            f"{five:>6}{stats['connection_errors']:>9}{stats['unexpected']:>7}  {shown}"
        )
    print(
        f"{'all':<10}{total['requests']:>9}{total['requests'] / seconds:>8.1f}{'':>18}"
        f"{total['five']:>6}{total['conn']:>9}{total['other']:>7}"
    )
    verified, phases = result["verified"], result["phases"]
    print(
        f"\nedits: {verified['edits']} acknowledged on {verified['edited_items']} items "
        f"({result['conflicts']} answers of 412 retried with the fresh ETag); uploads: "
        f"{verified['uploads']} acknowledged; downloads compared: {result['downloads_compared']}"
    )
    print(
        "outside the measured time: "
        + "; ".join(
            f"{phase} {phases[phase]['requests']} requests ({phases[phase]['5xx']} 5xx, "
            f"{phases[phase]['connection_errors']} connection errors)"
            for phase in ("seed", "warmup", "verify")
        )
    )
    events = result["events"]
    for name in EVENT_KINDS:
        event = events.get(name)
        print(f"mid-run {name}: " + (_describe_event(name, event) if event else "did not run"))
    memory_growth = float("nan")
    if before and after:
        start, end = sum(before.values()), sum(after.values())
        memory_growth = (end - start) / start * 100
        each = ", ".join(
            f"{before[pid]:.0f} -> {after[pid]:.0f}" for pid in sorted(before) if pid in after
        )
        restarted = sorted(set(before) ^ set(after))
        print(
            f"worker memory (RSS): {len(before)} workers, {start:.1f} MB after the warm-up, "
            f"{end:.1f} MB at the end ({memory_growth:+.1f}%); each in MB: {each}"
            + (f"; workers changed (restarted?): {restarted}" if restarted else "")
        )
        print(
            "  all workers over the run: "
            + ", ".join(f"{mb:.0f} MB at {t:.0f} s" for t, mb in trace)
        )
    lost = verified["lost_edits"] + verified["missing_uploads"] + result["integrity"]
    five_total = sum(phase["5xx"] for phase in phases.values())
    broken = sum(phase["connection_errors"] for phase in phases.values())
    broken += len(result["client_errors"])
    verdicts = [
        (five_total == 0, f"zero 5xx: {five_total} answers of 5xx"),
        (
            broken == 0,
            f"no connection errors, timeouts or unreadable answers: {broken}",
        ),
        (
            not lost,
            f"zero lost updates: {len(verified['lost_edits'])} edits lost or misplaced "
            f"(last of {verified['edited_items']} items, {verified['history_checked']} looked up "
            f"in the history), {len(verified['missing_uploads'])} uploads missing, "
            f"{len(result['integrity'])} downloads or listings wrong",
        ),
        (
            memory_growth < TARGET_MEMORY_GROWTH,
            f"worker memory growth {memory_growth:.1f}% (target < {TARGET_MEMORY_GROWTH:g}%)",
        ),
        (
            all(_event_ok(name, events.get(name)) for name in EVENT_KINDS),
            "the inventory import and the backup in the middle succeeded",
        ),
    ]
    logged = server.warnings()
    print(
        f"server log: {sum(logged.values())} warnings or errors"
        + "".join(f"\n  {n} x {text}" for text, n in logged.most_common(5))
    )
    _print_problems(result, lost, server, five_total)
    print("\ntargets:")
    for met, text in verdicts:
        print(f"  {'PASS   ' if met else 'NOT MET'}  {text}")
    return 0 if all(met for met, _ in verdicts) else 1


def _event_ok(name: str, event: dict[str, Any] | None) -> bool:
    if not event:
        return False
    if name == "import":
        return bool(event["status"] == 201 and event["body"].get("counts", {}).get("created"))
    if name == "backup":  # the strategy's state once the run ended: its report
        body = event["body"]
        return bool(
            event["status"] == 200 and not body.get("last_error") and body.get("last_report")
        )
    return bool(event["status"] == 200)


def _describe_event(name: str, event: dict[str, Any]) -> str:
    said = f"{event['status']} in {event['seconds']:.1f} s"
    body = event["body"]
    if name == "import" and isinstance(body, dict) and "counts" in body:
        counts = ", ".join(f"{k} {v}" for k, v in body["counts"].items() if v)
        return f"{said} ({counts})"
    if name == "backup" and isinstance(body, dict):
        report = body.get("last_report") or {"last_error": body.get("last_error")}
        shown = {k: v for k, v in report.items() if not isinstance(v, dict | list)}
        return f"{said} ({json.dumps(shown)[:300]})"
    return f"{said}: {json.dumps(body)[:300]}"


def _print_problems(
    result: dict[str, Any], lost: list[str], server: Server, five_total: int
) -> None:
    if result["server_errors"]:
        print(f"\nfirst 5xx answers (of {len(result['server_errors'])}):")
        for error in result["server_errors"][:SAMPLES]:
            print(f"  [{error['kind']}] {error['request']} -> {error['status']} {error['body']}")
    if result["connection_samples"]:
        print("\nconnection errors:", *result["connection_samples"][:SAMPLES], sep="\n  ")
    if result["client_errors"]:
        print("\nanswers the soak could not read:", *result["client_errors"][:SAMPLES], sep="\n  ")
    if result["unexpected_samples"]:
        print("\nunexpected 4xx:", *result["unexpected_samples"][:SAMPLES], sep="\n  ")
    if lost:
        print(f"\nlost or wrong ({len(lost)}):", *lost[:20], sep="\n  ")
    if five_total or result["connection_samples"] or result["client_errors"]:
        print("\nthe server's log (errors and warnings, without access lines):")
        print("\n".join(f"  {line}" for line in server.error_lines()))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=300, help="seconds measured")
    parser.add_argument("--warmup", type=float, help="seconds before (default: 20, or less)")
    parser.add_argument("--clients", type=int, default=8, help="client threads")
    parser.add_argument("--items", type=int, default=200, help="items made before the load")
    parser.add_argument("--hot-items", type=int, default=6, help="edited items per user")
    parser.add_argument("--inventory-rows", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument(
        "--mariadb-url", default=DEFAULT_MARIADB, help="an account that may CREATE DATABASE"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    options = parser.parse_args(argv)
    if options.warmup is None:
        options.warmup = min(20.0, max(5.0, options.duration / 4))
    if not Path("/usr/sbin/sshd").exists():
        print("bench/soak.py needs sshd: apt-get install -y openssh-server", file=sys.stderr)
        return 2

    def interrupted(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)  # clean up on kill as on Ctrl-C
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with &
    folder = Path(tempfile.mkdtemp(prefix="lv-soak-"))
    try:
        with contextlib.ExitStack() as stack:
            return soak(options, folder, stack)
    except KeyboardInterrupt:
        print("interrupted: server, sshd and S3 stopped, database dropped")
        return 130
    finally:
        if options.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
