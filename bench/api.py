"""Throughput and latency of the records API, against a minimal app measured alongside.

For each database (SQLite in a temporary folder; MariaDB in a fresh ``lv_bench_*``
database, searched with Mroonga when the server has it, and ``mariadb-innodb`` searched
with InnoDB FULLTEXT, side by side; ``postgresql`` in a fresh ``lv_bench_*`` database)
the benchmark seeds items (10k, then grown to 100k; ``--sizes 100000,1000000`` for 1M)
straight into labvault's schema, serves it with ``labvault serve`` (gunicorn, 2 gthread
workers of 4 threads) and, at the same time, with ``bench/minimal_app.py`` (Flask +
SQLAlchemy core + PyJWT, no labvault code, the same data in its answers, also gunicorn
with 2 gthread workers of 4 threads). wrk, in processes of its own, then measures both
servers in turns (labvault, minimal, minimal, labvault):

  item          GET /items/<refcode> of 1,000 items the user may read: requests/s with
                ``wrk -t2 -c16`` (both workers saturated);
  list          GET /items?page=1..5&page_size=20: newest first, the user's readable
                items, with their total (X-Pagination, counted up to 1,000 from the page on);
  search        GET /items?q=... (three queries: a common word, two words, a rare word)
                with page_size=20: the newest 1,000 matches, best first;
  list_manager  the list again as a manager, who reads every item: the same pages
                without the permission filter;
  list_field    GET /items?type=cycling_run&field.c_rate.gte=...&page=1..5: the user's
                cycling runs (a type of a plugin, item_types_battery, which the servers
                enable) at C-rates from 0.5 up, filtered through labvault's side table of
                filterable fields (``item_field_values``), newest first.

Each figure comes with the servers' CPU time per request (gunicorn's processes, read
from /proc on Linux), which a busy machine changes far less than requests/s or latency:
the minimal app's CPU per request over labvault's is the requests/s ratio where CPU is
what limits both, the one to compare before and after a change on a shared machine.

Beside search it prints the index lookup alone: the database's full-text index asked for
the newest 1,000 matches of each search, with no permissions and no app (the median of
the three), which is what any app using that index pays at least.

The user is an ordinary one (role ``user``) who created a quarter of the items; lab-wide
types and shared collections make about half of them readable to them (a tenth of the
items are cycling runs, private like samples, of a cell seeded before them), so every query but
the manager's carries the permission filter. Pages are measured with one request in
flight per worker (``wrk -t1 -c2``), so their p50/p99 are the time of one request on a
busy server, not time spent in a queue. Before measuring, the answers of both servers are
compared (same items, same totals): a difference is reported and makes the exit status 1.

Targets (issue 26), at 100k items: GET item at >= 0.85x the minimal app's throughput;
the lists (the user's, the manager's and the one filtered by a field) p50 under 10 ms;
search p50 under 20 ms and p99 under 60 ms. Each page figure is printed with its p99,
and each database gets a line saying whether it met every target. With a larger size too
(``--sizes 100000,1000000``) the same table is printed for it, and the growth of each
figure from the smallest size to the largest is stated (time per request: 1/throughput
for GET item, p50 for pages).
Needs wrk (``apt-get install -y wrk``).

Usage::

    .venv/bin/python bench/api.py [--sizes 10000,100000]
                                  [--databases sqlite,mariadb,mariadb-innodb,postgresql]
                                  [--duration 8]
                                  [--kinds item,list,search,list_manager,list_field]
                                  [--mariadb-url URL] [--postgresql-url URL]
                                  [--quick]

The default run takes about 7 minutes. On a shared machine, read the ratios (both apps
are measured in turns, so a busy moment hits both) more than the absolute numbers, and
see the load average printed for each step.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from labvault import migrations, search
from labvault.auth.models import User
from labvault.auth.tokens import TokenSigner
from labvault.collections.models import Collection, CollectionShare, collection_items
from labvault.db import create_engine
from labvault.items import field_values
from labvault.items.models import (
    Item,
    ItemFieldValue,
    ItemRelationship,
    ItemVersion,
    item_creators,
)
from labvault.items.texts import search_texts
from labvault.items.types import ItemTypes, builtin_types
from labvault_item_types_battery import CyclingRun
from sqlalchemy.engine import make_url

BENCH_DIR = Path(__file__).resolve().parent
SECRET_KEY = "bench-api-secret-key-0123456789abcdefghijklmnop"
ISSUER = "labvault-bench"
DEFAULT_MARIADB = "mysql+pymysql://root@127.0.0.1:3306/test?charset=utf8mb4"
DEFAULT_POSTGRESQL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PAGE_SIZE = 20
KINDS = ("item", "list", "search", "list_manager", "list_field")
DATABASES = ("sqlite", "mariadb", "mariadb-innodb", "postgresql")
LABELS = {
    "item": "GET /items/<refcode>",
    "list": f"GET /items?page_size={PAGE_SIZE}",
    "search": f"GET /items?q=...&page_size={PAGE_SIZE}",
    "list_manager": "the list as a manager",
    "list_field": "GET /items?type=..&field.F.gte=",
}
SEARCHES = ("anneal", "cathode powder", "zirconia")
TARGET_ITEM_RATIO = 0.85
#: The size the targets are for (the largest measured when it is not among the sizes).
TARGET_SIZE = 100_000
#: Each page's targets in ms: p50 under the first, p99 under the second (None: no target).
PAGE_TARGETS: dict[str, tuple[float, float | None]] = {
    "list": (10.0, None),
    "list_manager": (10.0, None),
    "list_field": (10.0, None),
    "search": (20.0, 60.0),
}

# wrk runs this in each of its threads: cycle through the paths of a file, then report
WRK_SCRIPT = """
local paths, counter, threads = {}, 0, 0
function setup(thread)
  threads = threads + 1
  thread:set("offset", threads * 97)  -- threads start at different paths
end
function init(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  counter = offset % #paths
end
function request()
  counter = counter % #paths + 1
  return wrk.format("GET", paths[counter])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %f, "p50_ms": %f, "p99_ms": %f, '
    .. '"errors": %d, "bad_status": %d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, e.connect + e.read + e.write + e.timeout, e.status))
end
"""


# --- seeding -------------------------------------------------------------------------

ITEM_TYPES = ("sample", "starting_material", "cell", "equipment", "cycling_run")
TYPE_WEIGHTS = (40, 27, 14, 9, 10)
#: The types the servers have (the core's and item_types_battery's), as labvault sees them:
#: the seeder keeps the values of their filterable fields as labvault does.
CATALOGUE = ItemTypes({**builtin_types().types, CyclingRun.name: CyclingRun})
PLUGINS = ["item_types_battery"]
C_RATES = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
VOLTAGE_WINDOWS = ("2.5-4.2", "2.8-4.3", "3.0-4.4")
#: The lower bounds of the C-rate in the pages of ``list_field``.
C_RATE_FLOORS = (0.5, 1.0, 2.0, 0.5, 1.0)
_COMMON_TEXT = """
    anneal annealed calcined sintered milled ground pressed pellet powder film thin thick
    cathode anode electrolyte separator binder carbon graphite lithium sodium potassium
    cobalt nickel manganese iron phosphate oxide sulfide fluoride nitrate chloride solution
    slurry coating dried vacuum argon glovebox furnace hours overnight ramp cooled washed
    filtered centrifuged dispersed sonicated stirred heated measured xrd sem tem bet tga
    impedance cycling capacity retention rate voltage current density batch repeat reference
    control failed promising stable unstable
"""
_RARE_TEXT = """
    zirconia yttria hafnia ceria titania niobate tantalate vanadate tungstate molybdate
    garnet spinel olivine perovskite pyrochlore fluorite wurtzite zincblende rocksalt layered
"""
#: Words of descriptions: each common one is in about a fifth of the items, a rare one
#: in one item of a hundred.
WORDS = _COMMON_TEXT.split()
RARE_WORDS = _RARE_TEXT.split()
FORMULAS = ("LiFePO4", "LiCoO2", "NaMnO2", "Li7La3Zr2O12", "TiO2", "ZnO", "LiNiO2", "SnO2")
CHEMICALS = ("lithium carbonate", "cobalt acetate", "iron nitrate", "ethanol", "acetone")
MAKERS = ("Bruker", "Zeiss", "Biologic", "Netzsch", "Anton Paar", "Malvern")


@dataclass
class Seeded:
    """What the benchmark needs to know about the seeded database."""

    user_id: int
    manager_id: int
    count: int = 0
    readable: list[str] = field(default_factory=list)


class Seeder:
    """Bulk-inserts items as labvault stores them (rows, search texts, creators, versions)."""

    def __init__(self, url: str, rng: random.Random) -> None:
        self.engine = create_engine(url)
        self.rng = rng
        self.codes: set[str] = set()
        self.materials: list[str] = []
        self.material_ids: dict[str, int] = {}
        self.cells: list[str] = []
        self.cell_ids: dict[str, int] = {}
        self.collection_ids: list[int] = []
        self.user_ids: list[int] = []
        self.seeded = self._users_and_collections()
        self.next_id = 1

    def _users_and_collections(self) -> Seeded:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        with self.engine.begin() as conn:
            people = ("Bench User", "Alice Lab", "Bob Lab", "Carol Lab", "Bench Manager")
            for n, name in enumerate(people):
                conn.execute(
                    sa.insert(User),
                    {
                        "email": f"user{n}@bench.example",
                        "display_name": name,
                        "role": "manager" if name == "Bench Manager" else "user",
                        "status": "active",
                        "created_at": now,
                        "updated_at": now,
                    },
                )
            *self.user_ids, manager = conn.scalars(sa.select(User.id).order_by(User.id))
            bench, alice, bob = self.user_ids[:3]
            for n, owner in enumerate((bench, alice, bob)):
                conn.execute(
                    sa.insert(Collection),
                    {
                        "collection_id": f"bench-{n}",
                        "title": f"Project {n}",
                        "description": "",
                        "created_by_id": owner,
                        "created_at": now,
                        "updated_at": now,
                        "version": 1,
                    },
                )
            self.collection_ids = list(conn.scalars(sa.select(Collection.id).order_by("id")))
            # Alice shares her collection with the bench user; Bob's stays private
            conn.execute(
                sa.insert(CollectionShare),
                {"collection_id": self.collection_ids[1], "user_id": bench, "permission": "read"},
            )
        return Seeded(user_id=bench, manager_id=manager)

    def _refcode(self) -> str:
        while True:
            code = "bench:" + "".join(self.rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ", k=6))
            if code not in self.codes:
                self.codes.add(code)
                return code

    def _text(self) -> str:
        words = self.rng.choices(WORDS, k=self.rng.randint(8, 30))
        if self.rng.random() < 0.2:
            words.insert(self.rng.randrange(len(words)), self.rng.choice(RARE_WORDS))
        return " ".join(words).capitalize() + "."

    def _fields(self, item_type: str, number: int) -> dict[str, Any]:
        rng = self.rng
        if item_type == "sample":
            fields: dict[str, Any] = {
                "chemical_formula": rng.choice(FORMULAS),
                "synthesis_description": self._text(),
            }
            if self.materials and rng.random() < 0.2:
                code = rng.choice(self.materials)
                fields["synthesis_constituents"] = [
                    {"item": code, "name": None, "quantity": 1.5, "unit": "g"},
                    {"item": None, "name": rng.choice(CHEMICALS), "quantity": 10.0, "unit": "mL"},
                ]
            return fields
        if item_type == "starting_material":
            return {
                "barcode": f"BC{number:08d}",
                "chemical_formula": rng.choice(FORMULAS),
                "supplier": rng.choice(("Sigma", "Alfa", "TCI", "abcr")),
                "location": f"cabinet {rng.randint(1, 40)}",
                "molar_mass": round(rng.uniform(20, 500), 2),
                "ghs_hazard_codes": ["H315", "H319"],
            }
        if item_type == "cell":
            return {
                "cell_format": rng.choice(("coin", "pouch", "swagelok")),
                "characteristic_mass": round(rng.uniform(1, 20), 2),
                "electrolyte": [{"item": None, "name": "LP30", "quantity": 40.0, "unit": "uL"}],
            }
        if item_type == "cycling_run":
            c_rate = rng.choice(C_RATES)
            return {
                "cell": rng.choice(self.cells),
                "protocol": f"CC-CV {rng.choice(VOLTAGE_WINDOWS)} V at {c_rate} C",
                "c_rate": c_rate,
                "temperature": rng.choice((0.0, 25.0, 25.0, 25.0, 45.0, 60.0)),
                "cycles": rng.randint(0, 2000),
                "channel": f"B{rng.randint(1, 8)}-{rng.randint(1, 16)}",
            }
        return {
            "manufacturer": rng.choice(MAKERS),
            "model": f"M-{rng.randint(100, 999)}",
            "serial_numbers": f"SN{number:06d}",
            "location": f"room {rng.randint(100, 140)}",
        }

    def _name(self, item_type: str, fields: dict[str, Any], number: int) -> str:
        if item_type == "sample":
            return f"{fields['chemical_formula']} {self.rng.choice(WORDS)} batch {number}"
        if item_type == "starting_material":
            return f"{self.rng.choice(CHEMICALS)} {number}"
        if item_type == "cell":
            return f"{fields['cell_format']} cell {number}"
        if item_type == "cycling_run":
            return f"run {number} at {fields['c_rate']} C"
        return f"{fields['manufacturer']} {fields['model']}"

    def grow_to(self, total: int, batch: int = 5000) -> float:
        """Add items until there are ``total``; returns the seconds it took."""
        started = time.perf_counter()
        if self.engine.dialect.name == "sqlite":
            # FTS5 indexed once at the end, as a restore does: half the time of the trigger
            # indexing row by row (one transaction: the trigger comes back with the index)
            with self.engine.begin() as conn, search.indexed_at_the_end(conn):
                while self.seeded.count < total:
                    self._insert_batch(conn, min(batch, total - self.seeded.count))
        while self.seeded.count < total:
            with self.engine.begin() as conn:
                self._insert_batch(conn, min(batch, total - self.seeded.count))
        if self.engine.dialect.name == "mysql":  # what InnoDB's background statistics do
            search.index_pending(self.engine)  # Mroonga's copy of the new items' texts
            with self.engine.begin() as conn:
                for table in (
                    *("items", "item_creators", "collection_items", "item_relationships"),
                    "item_field_values",
                ):
                    conn.exec_driver_sql(f"ANALYZE TABLE {table}")
        elif self.engine.dialect.name == "postgresql":  # what autovacuum does in its time
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
        return time.perf_counter() - started

    def _insert_batch(self, conn: sa.Connection, count: int) -> None:
        rng, now = self.rng, dt.datetime.now(dt.UTC).replace(microsecond=0)
        items, creators, versions, relations, members = [], [], [], [], []
        values: list[dict[str, Any]] = []
        for _ in range(count):
            item_id, number = self.next_id, self.next_id
            self.next_id += 1
            item_type = rng.choices(ITEM_TYPES, TYPE_WEIGHTS)[0]
            if item_type == "cycling_run" and not self.cells:  # a run cycles a cell
                item_type = "cell"
            fields = self._fields(item_type, number)
            refcode = self._refcode()
            creator = rng.choice(self.user_ids)
            created = now - dt.timedelta(seconds=rng.randint(3600, 2 * 365 * 86400))
            updated = min(now, created + dt.timedelta(seconds=rng.randint(0, 30 * 86400)))
            row: dict[str, Any] = {
                "id": item_id,
                "refcode": refcode,
                "item_id": f"{item_type[:2].upper()}-{number:07d}",
                "type": item_type,
                "name": self._name(item_type, fields, number),
                "description": self._text(),
                "date": created.date(),
                "status": rng.choice(CATALOGUE.types[item_type].statuses),
                "fields": fields,
                "created_by_id": creator,
                "created_at": created,
                "updated_at": updated,
                "version": 1,
            }
            row["search_title"], row["search_body"] = search_texts(
                SimpleNamespace(**row)  # type: ignore[arg-type]
            )
            items.append(row)
            creators.append({"item_id": item_id, "user_id": creator})
            values += field_values.rows_of(CATALOGUE.info(item_type), item_id, fields)
            if item_type == "cycling_run":
                relations.append(
                    {
                        "item_id": item_id,
                        "target_id": self.cell_ids[fields["cell"]],
                        "relation": "parent",
                        "description": "",
                        "origin": "cycling",
                    }
                )
            for entry in fields.get("synthesis_constituents", ()):
                if entry["item"]:
                    relations.append(
                        {
                            "item_id": item_id,
                            "target_id": self.material_ids[entry["item"]],
                            "relation": "parent",
                            "description": "",
                            "origin": "synthesis",
                        }
                    )
            in_collection = rng.random() < 0.01
            if in_collection:
                collection = rng.choice(self.collection_ids)
                members.append({"collection_id": collection, "item_id": item_id})
            snapshot = {
                **{k: v for k, v in row.items() if k not in ("id", "fields", "search_title")},
                **fields,
                "date": created.date().isoformat(),
                "created_at": created.isoformat(),
                "updated_at": updated.isoformat(),
                "deleted_at": None,
                "creator_ids": [creator],
                "blocks": [],
                "file_ids": [],
            }
            snapshot.pop("search_body")
            versions.append(
                {
                    "item_id": item_id,
                    "number": 1,
                    "action": "create",
                    "snapshot": snapshot,
                    "user_id": creator,
                    "created_at": created,
                }
            )
            if item_type == "starting_material":
                self.materials.append(refcode)
                self.material_ids[refcode] = item_id
            if item_type == "cell":
                self.cells.append(refcode)
                self.cell_ids[refcode] = item_id
            if (
                item_type in ("starting_material", "equipment")
                or creator == self.seeded.user_id
                or (in_collection and members[-1]["collection_id"] != self.collection_ids[2])
            ):
                self.seeded.readable.append(refcode)
        conn.execute(sa.insert(Item), items)
        conn.execute(sa.insert(item_creators), creators)
        conn.execute(sa.insert(ItemVersion), versions)
        if relations:
            conn.execute(sa.insert(ItemRelationship), relations)
        if members:
            conn.execute(sa.insert(collection_items), members)
        if values:
            conn.execute(sa.insert(ItemFieldValue.__table__), values)
        self.seeded.count += count


# --- databases and servers -------------------------------------------------------------


@contextlib.contextmanager
def bench_database(
    kind: str, tmp: Path, mariadb_url: str, postgresql_url: str = DEFAULT_POSTGRESQL
) -> Iterator[str]:
    """A fresh, empty database URL; dropped (or deleted) afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'labvault.db'}"
        return
    server_url = postgresql_url if kind == "postgresql" else mariadb_url
    # PostgreSQL creates and drops databases outside a transaction only
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"lv_bench_{secrets.token_hex(4)}"
    charset = "" if kind == "postgresql" else " CHARACTER SET utf8mb4"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}{charset}")
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        admin.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """One gunicorn (its own process group), stopped with its workers."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.name = name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = cwd / f"{name}.log"
        argv = [a.replace("{bind}", f"127.0.0.1:{self.port}") for a in argv]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_ready(self, path: str, token: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            with contextlib.suppress(OSError):
                if fetch(self.base + path, token)[0] == 200:
                    return
            time.sleep(0.2)
        tail = self.log.read_text(errors="replace")[-3000:]
        raise SystemExit(f"{self.name} did not start answering {path}:\n{tail}")

    def cpu_seconds(self) -> float | None:
        """CPU time (user and system) the server's processes have used so far: gunicorn's
        master and its workers, its process group (Linux's /proc; None elsewhere)."""
        if not Path("/proc/self/stat").exists():
            return None
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                # after the command's name (in parentheses): state, ppid, pgrp, ...
                fields = stat.read_text().rpartition(")")[2].split()
            except OSError:  # the process has just ended
                continue
            if int(fields[2]) == self.process.pid:
                total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)  # gunicorn stops its workers
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def start_servers(url: str, tmp: Path, stack: contextlib.ExitStack) -> dict[str, Server]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABVAULT_", "BENCH_"))}
    config = tmp / "config.py"
    config.write_text(
        f"IDENTIFIER_PREFIX = 'bench'\nSECRET_KEY = {SECRET_KEY!r}\nJWT_ISSUER = {ISSUER!r}\n"
        f"INSTANCE_PATH = {str(tmp / 'instance')!r}\nDATABASE_URL = {url!r}\n"
        f"LOG_LEVEL = 'WARNING'\nPLUGINS = {PLUGINS!r}\n"
    )
    bind = ["--workers", "2", "--threads", "4", "--bind", "{bind}"]
    labvault = Server(
        "labvault",
        [sys.executable, "-m", "labvault", "serve", *bind],
        {**env, "LABVAULT_CONFIG": str(config)},
        tmp,
    )
    stack.callback(labvault.stop)
    # the same gunicorn options labvault's serve uses (access log on stdout)
    minimal = Server(
        "minimal",
        [
            *(sys.executable, "-m", "gunicorn", *bind, "--worker-class", "gthread"),
            *("--access-logfile", "-"),
            *("--no-control-socket", "--chdir", str(BENCH_DIR), "minimal_app:app"),
        ],
        {
            **env,
            "BENCH_DATABASE_URL": url,
            "BENCH_SECRET_KEY": SECRET_KEY,
            "BENCH_ISSUER": ISSUER,
        },
        tmp,
    )
    stack.callback(minimal.stop)
    return {"labvault": labvault, "minimal": minimal}


def fetch(url: str, token: str) -> tuple[int, Any, dict[str, str]]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace"), dict(exc.headers)


# --- measuring -------------------------------------------------------------------------


@dataclass
class Measurement:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failures: int
    #: The server's CPU time over the run (None where it cannot be read).
    cpu_seconds: float | None = None

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_ms(self) -> float | None:
        """The server's CPU time per request, which other work on the machine hardly
        changes (the requests/s do: the server waits for a core)."""
        if self.cpu_seconds is None or not self.requests:
            return None
        return self.cpu_seconds / self.requests * 1000


def run_wrk(
    server: Server, paths: Path, script: Path, token: str, *, connections: int, seconds: float
) -> Measurement:
    threads = 2 if connections > 2 else 1
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s"]
    argv += ["--timeout", "10s", "-s", str(script), "-H", f"Authorization: Bearer {token}"]
    cpu_before = server.cpu_seconds()
    result = subprocess.run(
        [*argv, server.base, "--", str(paths)],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    cpu_after = server.cpu_seconds()
    lines = [line for line in result.stdout.splitlines() if line.startswith('{"requests"')]
    if result.returncode != 0 or not lines:
        raise SystemExit(f"wrk failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    data = json.loads(lines[-1])
    return Measurement(
        data["requests"],
        data["seconds"],
        data["p50_ms"],
        data["p99_ms"],
        data["errors"] + data["bad_status"],
        None if cpu_before is None or cpu_after is None else cpu_after - cpu_before,
    )


def combine(runs: list[Measurement]) -> Measurement:
    return Measurement(
        sum(r.requests for r in runs),
        sum(r.seconds for r in runs),
        statistics.median(r.p50_ms for r in runs),
        statistics.median(r.p99_ms for r in runs),
        sum(r.failures for r in runs),
        None if any(r.cpu_seconds is None for r in runs) else sum(r.cpu_seconds or 0 for r in runs),
    )


def request_paths(seeded: Seeded, rng: random.Random) -> dict[str, list[str]]:
    refcodes = rng.sample(seeded.readable, min(1000, len(seeded.readable)))
    return {
        "item": [f"/items/{code}" for code in refcodes],
        "list": [f"/items?page={page}&page_size={PAGE_SIZE}" for page in range(1, 6)],
        "list_manager": [f"/items?page={page}&page_size={PAGE_SIZE}" for page in range(1, 6)],
        "list_field": [
            f"/items?type=cycling_run&field.c_rate.gte={floor}&page={page}&page_size={PAGE_SIZE}"
            for page, floor in enumerate(C_RATE_FLOORS, 1)
        ],
        "search": [f"/items?q={urllib.parse.quote(q)}&page_size={PAGE_SIZE}" for q in SEARCHES],
    }


def compare_answers(
    servers: dict[str, Server], paths: dict[str, list[str]], tokens: dict[str, str]
) -> list[str]:
    """Both servers must answer every kind of request, with the same items and totals."""
    problems = []
    for kind, kind_paths in paths.items():
        for path in kind_paths[:3]:
            answers: dict[str, Any] = {}
            for name, server in servers.items():
                status, body, headers = fetch(server.base + path, tokens[kind])
                if status != 200:
                    raise SystemExit(f"{name}: GET {path} answered {status}: {body}")
                if kind == "item":
                    answers[name] = (body["refcode"], body["creators"], body["relationships"])
                else:
                    total = json.loads(headers.get("X-Pagination", "{}")).get("total")
                    answers[name] = (total, [entry["refcode"] for entry in body])
            if answers["labvault"] != answers["minimal"]:
                problems.append(f"GET {path}: labvault {answers['labvault']!r:.200}")
                problems.append(f"{' ' * len(path) + '     '}minimal  {answers['minimal']!r:.200}")
    return problems


def measure(
    servers: dict[str, Server],
    paths: dict[str, list[str]],
    tokens: dict[str, str],
    tmp: Path,
    duration: float,
    kinds: Sequence[str],
) -> dict[str, dict[str, Measurement]]:
    script = tmp / "bench.lua"
    script.write_text(WRK_SCRIPT)
    results: dict[str, dict[str, Measurement]] = {}
    for kind in kinds:
        path_file = tmp / f"{kind}.paths"
        path_file.write_text("\n".join(paths[kind]) + "\n")
        connections, token = (16 if kind == "item" else 2), tokens[kind]
        runs: dict[str, list[Measurement]] = {name: [] for name in servers}
        for name in servers:  # warm up: connection pools, statement caches, page cache
            run_wrk(servers[name], path_file, script, token, connections=2, seconds=1)
        for order in (("labvault", "minimal"), ("minimal", "labvault")):
            for name in order:
                runs[name].append(
                    run_wrk(
                        servers[name],
                        path_file,
                        script,
                        token,
                        connections=connections,
                        seconds=duration / 2,
                    )
                )
        results[kind] = {name: combine(r) for name, r in runs.items()}
    return results


def index_lookup_ms(engine: sa.Engine, repeats: int = 5) -> float:
    """The full-text index's own time for the searches, as labvault asks it (the newest
    1,000 matches), without permissions or anything else: what any app using that index
    pays. The median over the three searches (each the median of ``repeats``)."""
    if engine.dialect.name == "sqlite":
        sql = "SELECT rowid FROM items_fts WHERE items_fts MATCH :q ORDER BY rowid DESC LIMIT 1000"
        queries = [" ".join(f'"{w}"*' for w in q.split()) for q in SEARCHES]
    elif engine.dialect.name == "postgresql":
        sql = (
            "SELECT id FROM items WHERE search_vector @@ to_tsquery('simple'::regconfig, :q) "
            "ORDER BY id DESC LIMIT 1000"
        )
        queries = [" & ".join(f"{w}:*" for w in q.split()) for q in SEARCHES]
    elif search.engine_in_use(engine) == "mroonga":
        sql = (
            "SELECT item_id FROM items_search WHERE MATCH (title, body, access) "
            "AGAINST (:q IN BOOLEAN MODE) ORDER BY item_id DESC LIMIT 1000"
        )
        queries = [" ".join(f"+{w}*" for w in q.split()) for q in SEARCHES]
    else:
        sql = (
            "SELECT id FROM items WHERE MATCH (search_title, search_body) "
            "AGAINST (:q IN BOOLEAN MODE) ORDER BY id DESC LIMIT 1000"
        )
        queries = [" ".join(f"+{w}*" for w in q.split()) for q in SEARCHES]
    times = []
    with engine.connect() as conn:
        for q in queries:
            runs = []
            for _ in range(repeats):
                started = time.perf_counter()
                conn.execute(sa.text(sql), {"q": q}).all()
                runs.append((time.perf_counter() - started) * 1000)
            times.append(statistics.median(runs))
    return statistics.median(times)


# --- reporting -------------------------------------------------------------------------


def describe(kind: str, m: Measurement) -> str:
    if kind == "item":
        text = f"{m.rate:6.0f} req/s"
    else:
        text = f"p50 {m.p50_ms:6.1f} p99 {m.p99_ms:6.1f} ms"
    return text + (f" ({m.failures} FAILED)" if m.failures else "")


def cost(kind: str, m: Measurement) -> float:
    """Time per request: 1/throughput for GET item, the median latency for pages."""
    return 1 / m.rate if kind == "item" else m.p50_ms


def page_verdict(database: str, size: int, kind: str, m: Measurement) -> tuple[bool, str]:
    """Whether a page met its targets, and the line that says so (with p50 and p99)."""
    p50_target, p99_target = PAGE_TARGETS[kind]
    met = m.p50_ms < p50_target and (p99_target is None or m.p99_ms < p99_target)
    stated = f"p50 < {p50_target:.0f} ms" + (f", p99 < {p99_target:.0f} ms" if p99_target else "")
    return met, (
        f"{database} {size:,}: {LABELS[kind]} p50 {m.p50_ms:.1f} ms, p99 {m.p99_ms:.1f} ms "
        f"(target {stated})"
    )


def report(
    results: dict[tuple[str, int], dict[str, dict[str, Measurement]]],
    lookups: dict[tuple[str, int], float],
    sizes: Sequence[int],
) -> list[tuple[bool, str]]:
    verdicts: list[tuple[bool, str]] = []
    largest, smallest = max(sizes), min(sizes)
    judged = TARGET_SIZE if TARGET_SIZE in sizes else largest
    for (database, size), by_kind in results.items():
        print(
            f"\n{f'{database}, {size:,} items':<34}{'labvault':<28}{'minimal':<28}labvault/minimal"
        )
        per_database: dict[str, tuple[bool, str]] = {}
        for kind, measured in by_kind.items():
            lab, mini = measured["labvault"], measured["minimal"]
            if kind == "item":
                ratio = lab.rate / mini.rate
                per_database[kind] = (
                    ratio >= TARGET_ITEM_RATIO,
                    f"{database} {size:,}: GET item at {ratio:.2f}x the minimal app's "
                    f"requests/s (target >= {TARGET_ITEM_RATIO}x)",
                )
                compared = f"{ratio:.2f}x requests/s"
            else:
                compared = f"{lab.p50_ms / mini.p50_ms:.2f}x p50"
                per_database[kind] = page_verdict(database, size, kind, lab)
            print(
                f"  {LABELS[kind]:<32}{describe(kind, lab):<28}{describe(kind, mini):<28}{compared}"
            )
            if lab.cpu_ms is not None and mini.cpu_ms is not None:
                print(
                    f"    server CPU per request: labvault {lab.cpu_ms:.2f} ms, minimal "
                    f"{mini.cpu_ms:.2f} ms ({mini.cpu_ms / lab.cpu_ms:.2f}x: the requests/s "
                    "ratio where CPU limits both)"
                )
            if kind == "search" and (database, size) in lookups:
                print(f"    the index lookup alone: p50 {lookups[(database, size)]:.1f} ms")
        if size == judged:
            missed = [LABELS[kind] for kind, (met, _) in per_database.items() if not met]
            verdicts += per_database.values()
            verdicts.append(
                (
                    not missed,
                    f"{database} {size:,}: every target met"
                    if not missed
                    else f"{database} {size:,}: NOT met: {'; '.join(missed)}",
                )
            )
    if largest != smallest:
        print(f"\ngrowth from {smallest:,} to {largest:,} items (time per request; p50 of pages)")
        for database in dict.fromkeys(db for db, _ in results):
            big, small = results[(database, largest)], results[(database, smallest)]
            for kind in big:
                growth = {
                    name: cost(kind, big[kind][name]) / cost(kind, small[kind][name])
                    for name in ("labvault", "minimal")
                }
                p99 = (
                    f"   p99 {big[kind]['labvault'].p99_ms / small[kind]['labvault'].p99_ms:5.2f}x"
                    if kind != "item"
                    else ""
                )
                print(
                    f"  {database:<8} {LABELS[kind]:<32} labvault {growth['labvault']:5.2f}x"
                    f"   minimal {growth['minimal']:5.2f}x{p99}"
                )
    if judged != TARGET_SIZE:
        print(f"\n(the targets are for {TARGET_SIZE:,} items; judged here at {judged:,})")
    return verdicts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="item counts (grown in order)")
    parser.add_argument(
        "--databases",
        default="sqlite,mariadb",
        help="sqlite, mariadb (Mroonga when the server has it), mariadb-innodb and/or postgresql",
    )
    parser.add_argument("--duration", type=float, default=8, help="seconds per app and request")
    parser.add_argument("--quick", action="store_true", help="1,000 and 10,000 items, 2 s each")
    parser.add_argument(
        "--kinds",
        default=",".join(KINDS),
        help="item, list, search, list_manager and/or list_field",
    )
    parser.add_argument(
        "--mariadb-url", default=DEFAULT_MARIADB, help="an account that may CREATE DATABASE"
    )
    parser.add_argument(
        "--postgresql-url", default=DEFAULT_POSTGRESQL, help="an account that may CREATE DATABASE"
    )
    options = parser.parse_args(argv)
    if options.quick:
        options.duration = 2
        if options.sizes == parser.get_default("sizes"):
            options.sizes = "1000,10000"
    sizes = sorted(int(s.replace("_", "")) for s in options.sizes.split(","))
    databases = [d.strip() for d in options.databases.split(",") if d.strip()]
    kinds = [k for k in KINDS if k in options.kinds.split(",")]
    if unknown := set(databases) - set(DATABASES):
        parser.error(f"unknown database {', '.join(sorted(unknown))}: use {', '.join(DATABASES)}")
    if shutil.which("wrk") is None:
        print(
            "bench/api.py needs the wrk load generator, which is not installed.\n"
            "Install it with:  apt-get install -y wrk   (Debian/Ubuntu; brew install wrk on macOS)",
            file=sys.stderr,
        )
        return 2
    servers_needed = (
        {"MariaDB": options.mariadb_url} if {"mariadb", "mariadb-innodb"} & set(databases) else {}
    )
    if "postgresql" in databases:
        servers_needed["PostgreSQL"] = options.postgresql_url
    for server_name, server_url in servers_needed.items():
        try:
            with sa.create_engine(server_url).connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except sa.exc.OperationalError as exc:
            print(f"cannot reach {server_name} at {server_url}: {exc.orig}", file=sys.stderr)
            return 2

    def interrupted(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)  # clean up on kill as on ctrl-c
    rng = random.Random(20_261_122)
    signer = TokenSigner(
        algorithm="HS256",
        signing_key=SECRET_KEY,
        verifying_key=SECRET_KEY,
        issuer=ISSUER,
        lifetime=dt.timedelta(hours=6),
        session_lifetime=dt.timedelta(hours=6),
    )
    print(
        f"labvault against a minimal Flask + SQLAlchemy + PyJWT app; gunicorn with 2 gthread "
        f"workers of 4 threads each; wrk on the same machine ({os.cpu_count()} CPUs); "
        f"{options.duration:g} s per app and request kind"
    )
    results: dict[tuple[str, int], dict[str, dict[str, Measurement]]] = {}
    lookups: dict[tuple[str, int], float] = {}
    mismatches: list[str] = []
    started = time.perf_counter()
    try:
        for database in databases:
            with contextlib.ExitStack() as stack:
                tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lv-bench-")))
                url = stack.enter_context(
                    bench_database(database, tmp, options.mariadb_url, options.postgresql_url)
                )
                engine_name = migrations.upgrade(
                    url, "head", "innodb" if database == "mariadb-innodb" else "auto"
                )
                print(f"  {database}: search with {search.ENGINE_NAMES[engine_name or '']}")
                seeder = Seeder(url, rng)
                stack.callback(seeder.engine.dispose)
                token = signer.issue(seeder.seeded.user_id, secrets.token_hex(16))
                tokens = {kind: token for kind in KINDS}
                tokens["list_manager"] = signer.issue(
                    seeder.seeded.manager_id, secrets.token_hex(16)
                )
                servers: dict[str, Server] = {}
                for size in sizes:
                    seconds = seeder.grow_to(size)
                    paths = request_paths(seeder.seeded, rng)
                    if not servers:
                        servers = start_servers(url, tmp, stack)
                        for server in servers.values():
                            server.wait_ready(paths["item"][0], token)
                    problems = compare_answers(servers, paths, tokens)
                    mismatches += [f"{database} {size:,}: {p}" for p in problems]
                    load = os.getloadavg()[0]
                    results[(database, size)] = measure(
                        servers, paths, tokens, tmp, options.duration, kinds
                    )
                    lookups[(database, size)] = index_lookup_ms(seeder.engine)
                    print(
                        f"  {database} {size:,}: seeded in {seconds:.1f} s; load average "
                        f"{load:.2f} before, {os.getloadavg()[0]:.2f} after measuring",
                        flush=True,
                    )
    except KeyboardInterrupt:
        print("interrupted: servers stopped, temporary files and databases removed")
        return 130
    verdicts = report(results, lookups, sizes)
    print(f"\ntargets (run took {time.perf_counter() - started:.0f} s):")
    for met, text in verdicts:
        print(f"  {'PASS   ' if met else 'NOT MET'}  {text}")
    if mismatches:
        print("\nthe two apps answered differently (the comparison is not like for like):")
        print("\n".join(f"  {line}" for line in mismatches))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
