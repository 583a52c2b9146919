"""Where the time of one read goes, in-process: GET /items/<refcode>, a list page, a search,
a list filtered by a field (list_field, as bench/api.py).

Seeds items into SQLite (bench/api.py's seeder), builds the app with ``create_app`` and
sends requests through Flask's test client (no gunicorn, no network), so what is
measured is labvault's Python share of a request. Prints the SQL statements one request
runs, its CPU time, and with ``--profile`` a cProfile summary (CPU time: on a shared
machine wall time is mostly waiting for a core).

Usage::

    .venv/bin/python bench/profile_read.py [--items 2000] [--requests 2000] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import pstats
import random
import secrets
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from labvault import migrations
from labvault.app import create_app

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api import ISSUER, PLUGINS, SECRET_KEY, Seeded, Seeder, request_paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--url", help="a database bench/api.py's seeder filled (not seeded)")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--kind", default="item", choices=["item", "list", "search", "list_field"])
    parser.add_argument("--profile", action="store_true", help="print a cProfile summary")
    parser.add_argument("--sort", default="cumulative", help="cProfile order (tottime, ...)")
    parser.add_argument("--callers", help="also print the callers of functions matching this")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lv-profile-") as tmp:
        rng = random.Random(1)
        if options.url:  # a database bench/api.py's seeder filled: its first user reads
            url, user_id = options.url, 1
            engine = sa.create_engine(url)
            with engine.connect() as conn:
                readable = list(
                    conn.scalars(
                        sa.text("SELECT refcode FROM items WHERE type = 'equipment' LIMIT 1000")
                    )
                )
            engine.dispose()
            paths = request_paths(Seeded(user_id, 0, readable=readable), rng)[options.kind]
        else:
            url = f"sqlite:///{tmp}/labvault.db"
            migrations.upgrade(url, "head", "auto")
            seeder = Seeder(url, rng)
            seeder.grow_to(options.items)
            user_id = seeder.seeded.user_id
            paths = request_paths(seeder.seeded, rng)[options.kind]
        app = create_app(
            {
                "IDENTIFIER_PREFIX": "bench",
                "SECRET_KEY": SECRET_KEY,
                "JWT_ISSUER": ISSUER,
                "INSTANCE_PATH": str(Path(tmp) / "instance"),
                "DATABASE_URL": url,
                "LOG_LEVEL": "WARNING",
                "PLUGINS": PLUGINS,  # item_types_battery: list_field's cycling runs
            }
        )
        signer = app.extensions["labvault"].signer
        token = signer.issue(user_id, secrets.token_hex(16), dt.timedelta(hours=1))
        headers = {"Authorization": f"Bearer {token}"}
        client = app.test_client()
        statements: list[str] = []
        engine = app.extensions["labvault"].database.engine
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        for path in paths[:50]:  # warm up
            assert client.get(path, headers=headers).status_code == 200
        sa.event.listen(engine, "before_cursor_execute", listener)
        client.get(paths[0], headers=headers)
        sa.event.remove(engine, "before_cursor_execute", listener)
        print(f"{len(statements)} statements for GET {paths[0]}:")
        for statement in statements:
            print("   ", " ".join(statement.split())[:150])
        # CPU time, not wall time: on a shared machine the wall time is mostly waiting
        profiler = cProfile.Profile(time.process_time) if options.profile else None
        started, wall_started = time.process_time(), time.perf_counter()
        if profiler is not None:
            profiler.enable()
        for number in range(options.requests):
            client.get(paths[number % len(paths)], headers=headers)
        if profiler is not None:
            profiler.disable()
        seconds, wall = time.process_time() - started, time.perf_counter() - wall_started
        if profiler is not None:
            stats = pstats.Stats(profiler, stream=sys.stdout)
            stats.sort_stats(options.sort).print_stats(30)
            if options.callers:
                stats.print_callers(options.callers)
        per_request = seconds / options.requests * 1000
        wall_per_request = wall / options.requests * 1000
        print(
            f"{per_request:.2f} ms of CPU, {wall_per_request:.2f} ms wall per request "
            f"({options.kind}, in-process)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
