"""Backups of a 1 GB file store and 100,000 items: time, throughput and peak memory.

Builds a lab in a temporary folder under /tmp: 5,000 items of every type made through
the core's services in batches (with their versions, relationships, comment blocks, some
edited and some in the trash), the rest of ``--items`` copies of those written in bulk
(each with its own id, refcode, item_id and barcode, in its rows and its versions), and
``--files`` files of 4 KB to 8 MB, ``--store-mb`` in all, put into the file store with
``LocalFileStore.store`` and attached to samples and cells (each a version). The
contents are like a lab's: CSV columns of instrument data (45% of the bytes), binary
detector frames (25%) and incompressible bytes like images already compressed (30%).
Then it measures, in the same run and on the same files:

  tar             ``tar -I 'gzip -L' -cf out.tar.gz -C FILE_DIRECTORY .``: the baseline,
                  run before and after the first backup (the faster run counts);
  full backup     ``labvault backup create --strategy bench`` (a ``local`` target, the same
                  compression level) as a deployer runs it, startup included; the
                  ``run_strategy`` part is the time the command itself reports;
  unchanged       the same command again, nothing changed since;
  restore         ``labvault backup restore --strategy bench SNAPSHOT`` into a new SQLite
                  database (no tables) and an empty file directory, with a second
                  config.py naming the same repository; its rows and files are checked;
  archive         ``labvault backup create --output-path X.tar.gz``, the one-file form.

Throughput is the bytes of the file store over the seconds. Each command runs in a
process of its own, so its peak memory (max RSS) is its own. With ``--rss-items N`` a
second lab of N items and the same files is backed up into the same repository (all
contents there already) to compare peak memory with the number of items. With
``--profile``, ``run_strategy`` (a full backup into a new repository, then an unchanged
one) and ``restore()`` (into another new database) run under cProfile, each in a process
of its own, and their busiest functions are printed.

Targets: a full backup at least 0.8x tar's throughput; the unchanged backup under 10% of
the full backup's time; a restore in under 0.7x the full backup's time; the repository
after 10 unchanged backups under 1.2x its size after the full one. The archive is held to
0.8x tar as well (it compresses the database dump too). Page caches cannot be dropped
here, so every command reads the files from the cache (they were just written), tar as
well as the backups; tar runs both before and after the full backup to show the noise.

``--database URL`` puts the source lab in that database (MariaDB, PostgreSQL) instead
of a SQLite file: it must have no tables, and the tables the bench makes are dropped at
the end (unless ``--keep``). The restore and the ``--rss-items`` lab use SQLite files.

    .venv/bin/python bench/backup.py [--items 100000] [--store-mb 1024] [--files 1000]
        [--level 6] [--database URL] [--rss-items 10000] [--profile] [--keep] [--quick]

``--quick`` is the smallest meaningful size (5,000 items, 100 files, 50 MB), for
``make bench``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import math
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TARGET_FULL_VS_TAR = 0.8
TARGET_UNCHANGED_RATIO = 0.10
TARGET_RESTORE_RATIO = 0.7
#: Unchanged daily backups in a row, and the most the repository may then take, as a
#: multiple of its size after the full backup.
UNCHANGED_DAYS = 10
TARGET_GROWTH = 1.2
STRATEGY = "bench"
SECRET_KEY = "bench-backup-secret-key-0123456789abcdefghij"
MIN_FILE, MAX_FILE = 4 << 10, 8 << 20
#: Share of the store's bytes of each kind of content.
SHARES = {"text": 0.45, "binary": 0.25, "random": 0.30}
POOL_BYTES = 24 << 20
BATCH = 500
#: Items made through the services; the rest are copies of them, written in bulk.
MADE_ITEMS = 5000
MB = 1 << 20

# --- what a lab's items look like -------------------------------------------------------

MATERIALS = [
    ("acetone", "67-64-1", "C3H6O", 58.08),
    ("ethanol", "64-17-5", "C2H6O", 46.07),
    ("toluene", "108-88-3", "C7H8", 92.14),
    ("methanol", "67-56-1", "CH4O", 32.04),
    ("lithium carbonate", "554-13-2", "Li2CO3", 73.89),
    ("lithium hydroxide monohydrate", "1310-66-3", "LiOH·H2O", 41.96),
    ("nickel(II) sulfate hexahydrate", "10101-97-0", "NiSO4·6H2O", 262.85),
    ("cobalt(II) sulfate heptahydrate", "10026-24-1", "CoSO4·7H2O", 281.10),
    ("manganese(II) sulfate monohydrate", "10034-96-5", "MnSO4·H2O", 169.02),
    ("N-methyl-2-pyrrolidone", "872-50-4", "C5H9NO", 99.13),
    ("ethylene carbonate", "96-49-1", "C3H4O3", 88.06),
    ("dimethyl carbonate", "616-38-6", "C3H6O3", 90.08),
    ("lithium hexafluorophosphate", "21324-40-3", "LiPF6", 151.91),
    ("sodium hydroxide", "1310-73-2", "NaOH", 40.00),
    ("water", "7732-18-5", "H2O", 18.02),
]
SUPPLIERS = ["Sigma-Aldrich", "Merck", "Alfa Aesar", "abcr", "TCI", "Fisher", "VWR"]
HAZARDS = ["H225", "H302", "H314", "H317", "H319", "H335", "H336", "H350i", "H410", "EUH066"]
FORMULAS = ["LiNi0.8Mn0.1Co0.1O2", "LiFePO4", "Li4Ti5O12", "NaNi1/3Fe1/3Mn1/3O2", "LiMn2O4"]
SAMPLE_WORDS = ["NMC811", "LFP", "LTO", "NFM", "LMO", "coating", "slurry", "precursor"]
INSTRUMENTS = [
    ("Bruker", "D8 Advance", "XRD lab 2.14"),
    ("Biologic", "VMP-300", "battery lab 1.03"),
    ("Zeiss", "Gemini 500 SEM", "microscopy 0.21"),
    ("Netzsch", "STA 449 F3", "thermal lab 2.02"),
    ("MBraun", "Labstar glovebox", "battery lab 1.01"),
]
SENTENCES = [
    "Calcined at {t} °C for {h} h under flowing oxygen, heating rate 5 K/min.",
    "Precursor co-precipitated at pH {ph} in a {v} L continuously stirred reactor.",
    "Washed three times with deionized water and dried at 120 °C overnight in vacuum.",
    "Slurry of 90 wt% active material, 5 wt% carbon black and 5 wt% PVDF in NMP.",
    "Coated on aluminium foil with a doctor blade at {g} µm gap, calendered to {d} µm.",
    "XRD shows a layered R-3m structure; no impurity phases above the noise level.",
    "First-cycle efficiency {e} % at C/10 between 3.0 and 4.3 V vs Li/Li+.",
    "Particle size D50 = {p} µm (laser diffraction, dispersed in isopropanol).",
    "Stored in the glovebox (H2O < 0.1 ppm, O2 < 0.1 ppm) until use.",
    "See the **cycling data** attached and the notes of batch {b} for comparison.",
]
COMMENTS = [
    "Re-measured after recalibration of the *goniometer*; results within 0.5 %.",
    "Capacity fade after 100 cycles: **{e} %**. Compare with batch {b}.",
    "| cycle | capacity / mAh g⁻¹ |\n|---|---|\n| 1 | {c} |\n| 50 | {d} |",
    "Sample sent to the partner lab for TEM on {date}.",
]


def sentence(rng: random.Random) -> str:
    return rng.choice(SENTENCES).format(
        t=rng.choice([650, 700, 750, 800, 850]),
        h=rng.choice([6, 10, 12, 15]),
        ph=round(rng.uniform(10.5, 11.8), 2),
        v=rng.choice([1, 2, 5]),
        g=rng.choice([100, 150, 200]),
        d=rng.randint(40, 90),
        e=round(rng.uniform(80, 95), 1),
        p=round(rng.uniform(3, 15), 1),
        b=rng.randint(1, 400),
    )


def text(rng: random.Random, low: int, high: int) -> str:
    return " ".join(sentence(rng) for _ in range(rng.randint(low, high)))


def a_date(rng: random.Random) -> str:
    return (dt.date(2019, 1, 1) + dt.timedelta(days=rng.randint(0, 2400))).isoformat()


def item_body(
    rng: random.Random, n: int, materials: list[str], samples: list[str]
) -> dict[str, Any]:
    """An item as a client would send it (validated by the type's schema afterwards)."""
    roll = rng.random()
    common = {"description": text(rng, 1, 4), "date": a_date(rng)}
    if roll < 0.25:
        name, cas, formula, mass = rng.choice(MATERIALS)
        return {
            "type": "starting_material",
            "name": f"{name} {rng.choice(['99.9 %', 'anhydrous', 'ACS reagent', 'battery grade'])}",
            **common,
            "barcode": f"CH-{n:07d}",
            "cas": cas,
            "chemical_formula": formula,
            "molar_mass": mass,
            "supplier": rng.choice(SUPPLIERS),
            "location": f"cabinet {rng.randint(1, 40)}, shelf {rng.randint(1, 6)}",
            "container_size": rng.choice([25.0, 100.0, 250.0, 500.0, 1000.0]),
            "container_unit": rng.choice(["g", "mL"]),
            "chemical_purity": rng.choice(["99 %", "99.9 %", "≥ 99.5 %"]),
            "ghs_hazard_codes": rng.sample(HAZARDS, rng.randint(0, 3)),
            "date_acquired": a_date(rng),
            "attributes": {"lot": f"L{rng.randint(10000, 99999)}", "order": f"PO-{n}"},
        }
    if roll < 0.30:
        maker, model, place = rng.choice(INSTRUMENTS)
        return {
            "type": "equipment",
            "name": f"{model} #{n % 97}",
            **common,
            "manufacturer": maker,
            "model": model,
            "serial_numbers": f"SN{rng.randint(100000, 999999)}",
            "location": place,
            "contact": f"user{rng.randint(1, 12)}@lab.example",
        }
    if roll < 0.40 and samples:
        return {
            "type": "cell",
            "name": f"coin cell {n}",
            **common,
            "cell_format": rng.choice(["coin", "pouch", "swagelok"]),
            "positive_electrode": [
                {
                    "item": rng.choice(samples),
                    "quantity": round(rng.uniform(8, 20), 2),
                    "unit": "mg",
                }
            ],
            "negative_electrode": [{"name": "Li metal", "quantity": 1.0, "unit": "pcs"}],
            "electrolyte": [
                {"item": rng.choice(materials), "quantity": 40.0, "unit": "µL"}
                if materials
                else {"name": "LP30", "quantity": 40.0, "unit": "µL"}
            ],
            "characteristic_mass": round(rng.uniform(5, 15), 3),
        }
    constituents: list[dict[str, Any]] = [
        {"name": rng.choice(MATERIALS)[0], "quantity": round(rng.uniform(0.1, 50), 3), "unit": "g"}
        for _ in range(rng.randint(1, 3))
    ]
    if materials:
        constituents.append({"item": rng.choice(materials), "quantity": 2.5, "unit": "g"})
    word = rng.choice(SAMPLE_WORDS)
    return {
        "type": "sample",
        "name": f"{word} batch {n // 7} \u2013 {rng.choice(['as synthesized', 'annealed'])}",
        "item_id": f"{word.lower()}-{n:06d}",
        **common,
        "chemical_formula": rng.choice(FORMULAS),
        "synthesis_description": text(rng, 2, 8),
        "synthesis_constituents": constituents,
    }


# --- file contents ----------------------------------------------------------------------


def content_plan(files: int, store_bytes: int, seed: int) -> list[tuple[str, int]]:
    """(kind, size) of each file: sizes spread log-uniformly from 4 KB to 8 MB, scaled to
    ``store_bytes`` in all; kinds chosen so each gets its share of the bytes."""
    rng = random.Random(seed)
    sizes = [
        int(math.exp(rng.uniform(math.log(MIN_FILE), math.log(MAX_FILE)))) for _ in range(files)
    ]
    scale = store_bytes / sum(sizes)
    sizes = [max(1024, int(size * scale)) for size in sizes]
    sizes[-1] += store_bytes - sum(sizes)
    given = dict.fromkeys(SHARES, 0)
    plan = []
    for size in sizes:
        kind = max(SHARES, key=lambda k: SHARES[k] * store_bytes - given[k] - rng.random())
        given[kind] += size
        plan.append((kind, size))
    return plan


class Contents:
    """Deterministic contents: the same (seed, number) always gives the same bytes.

    Text and binary files are slices of a pool (24 MB each) from a random offset: far
    more than gzip's 32 KB window, so they compress as unique data of their kind would.
    """

    def __init__(self, seed: int) -> None:
        import numpy as np

        self.np = np
        rng = np.random.default_rng(seed)
        rows = POOL_BYTES // 36
        seconds = np.cumsum(rng.uniform(0.9, 1.1, rows))
        current = np.where((seconds // 7200) % 2 == 0, 0.25, -0.25) + rng.normal(0, 3e-4, rows)
        voltage = 3.7 + 0.45 * np.sin(seconds / 1146) + rng.normal(0, 8e-4, rows)
        capacity = np.cumsum(np.abs(current)) / 3600
        buffer = io.BytesIO()
        np.savetxt(
            buffer,
            np.column_stack([seconds, voltage, current, capacity]),
            fmt=["%.1f", "%.5f", "%.5f", "%.6f"],
            delimiter=",",
        )
        self.text = buffer.getvalue()
        y, x = np.mgrid[0:512, 0:512]
        frames: list[Any] = []
        while sum(f.nbytes for f in frames) < POOL_BYTES:
            cx, cy, width = rng.uniform(100, 400), rng.uniform(100, 400), rng.uniform(20, 80)
            peak = 40 + 3000 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * width**2))
            frames.append(rng.poisson(peak).astype("<u2"))
        self.binary = b"".join(f.tobytes() for f in frames)
        self.seed = seed

    def make(self, number: int, kind: str, size: int) -> bytes:
        rng = self.np.random.default_rng([self.seed, number])
        if kind == "random":
            return b"\xff\xd8\xff\xe0" + rng.bytes(size - 4)
        if kind == "text":
            header = (
                f"# Biologic VMP-300 export, channel {number % 16}, file {number}\n"
                "time/s,Ewe/V,I/mA,Q/mAh\n"
            ).encode()
            pool = self.text
            start = pool.index(b"\n", int(rng.integers(0, len(pool) // 2))) + 1
        else:
            header = b"LVRAW\x00\x01\x00" + struct.pack("<IHH", number, 512, 512)
            pool = self.binary
            start = int(rng.integers(0, len(pool) // 2)) & ~1
        body = size - len(header)
        parts, taken = [header], 0
        while taken < body:
            piece = pool[start : start + body - taken]
            parts.append(piece)
            taken += len(piece)
            start = 0
        return b"".join(parts)[:size]


FILE_NAMES = {
    "text": ("cycling_{n:04d}.csv", "xrd_scan_{n:04d}.xy"),
    "binary": ("detector_frame_{n:04d}.raw", "sem_{n:04d}.tif"),
    "random": ("photo_{n:04d}.jpg", "raw_data_{n:04d}.zip"),
}


# --- building the lab (in a child process) ------------------------------------------------


def build(items: int, files: int, store_bytes: int, seed: int) -> dict[str, Any]:
    """Fill the configured instance: users, ``items`` items, ``files`` files."""
    import sqlalchemy as sa
    from labvault.app import create_app
    from labvault.auth.models import Role, User
    from labvault.blocks.models import Block
    from labvault.blocks.service import block_type, compute
    from labvault.builtins.store_local import LocalFileStore
    from labvault.db import begin_write, utcnow
    from labvault.files.models import item_files
    from labvault.files.service import new_file_row
    from labvault.items import service as items_service
    from labvault.items import types as item_types
    from labvault.items.history import changed
    from labvault.items.models import Item, ItemVersion
    from labvault.items.schemas import validate_item_input
    from labvault.migrations import create_schema
    from labvault.registry import BLOCK_TYPES
    from labvault.users.service import create_user
    from labvault.versions.service import record_noted_changes
    from labvault.web.session import get_session

    started = time.perf_counter()
    app = create_app()
    state = app.extensions["labvault"]
    create_schema(state.database.engine)
    rng = random.Random(seed)
    with app.app_context():
        session = get_session()
        users = [
            create_user(
                session,
                f"user{n}@lab.example",
                display_name=f"Researcher {n}",
                role=Role.MANAGER if n % 4 == 0 else Role.USER,
            )
            for n in range(1, 13)
        ]
        user_ids = [user.id for user in users]
        types = state.registry.instances_of(BLOCK_TYPES)
        comment = block_type(types, "comment")
        materials: list[str] = []
        samples: dict[int, list[str]] = {uid: [] for uid in user_ids}
        prefix = state.settings["IDENTIFIER_PREFIX"]
        made_items = min(items, MADE_ITEMS)
        for first in range(0, made_items, BATCH):
            begin_write(session)
            numbers = range(first, min(first + BATCH, made_items))
            refcodes = iter(items_service.free_refcodes(session, prefix, len(numbers)))
            made: list[tuple[Item, User]] = []
            for n in numbers:
                user = users[rng.randrange(len(users))]
                body = item_body(rng, n, materials, samples[user.id])
                loaded = validate_item_input(body["type"], body)
                item = items_service.add_item(
                    session, user, {"type": body["type"], **loaded}, prefix, refcode=next(refcodes)
                )
                made.append((item, user))
            record_noted_changes(session)
            session.flush()
            for item, user in made:
                roll = rng.random()
                if roll < 0.30:  # edited once since: a second version
                    data = {
                        "status": rng.choice(
                            item_types.current().info(item.type).type.statuses[1:]
                        ),
                        "description": item.description + "\n\n" + text(rng, 1, 2),
                    }
                    items_service.apply_changes(session, user, item, data)
                    changed(session, item, "update", user.id)
                elif roll < 0.40:
                    data = comment.DataSchema().load({"text": rng.choice(COMMENTS).format(
                        e=rng.randint(3, 30), b=rng.randint(1, 400), c=rng.randint(150, 200),
                        d=rng.randint(120, 190), date=a_date(rng))})  # fmt: skip
                    block = Block(
                        item_id=item.id,
                        block_type="comment",
                        title="notes",
                        data=data,
                        file_ids=[],
                        position=0,
                    )
                    compute(session, types, item, block)
                    session.add(block)
                    changed(session, item, "block_create", user.id)
                elif roll < 0.41:
                    item.deleted_at, item.deleted_by_id = utcnow(), user.id
                    changed(session, item, "delete", user.id)
                    continue
                if item.type == "starting_material":
                    materials.append(item.refcode)
                elif item.type == "sample":
                    samples[user.id].append(item.refcode)
            record_noted_changes(session)
            session.commit()
            for row in list(session.identity_map.values()):
                if not isinstance(row, User) and row in session:  # not gone by cascade
                    session.expunge(row)
        session.close()
        service_seconds = time.perf_counter() - started
        if items > made_items:
            clone_items(state.database.engine, prefix, items, rng)
        attachable = list(
            session.execute(
                sa.select(Item.refcode, Item.created_by_id)
                .where(Item.type.in_(["sample", "cell"]), Item.deleted_at.is_(None))
                .order_by(Item.id)
            ).tuples()
        )
        counts = {  # what the clones copied too
            "updated": session.scalar(
                sa.select(sa.func.count()).where(ItemVersion.action == "update")
            ),
            "blocks": session.scalar(sa.select(sa.func.count()).select_from(Block)),
            "trashed": session.scalar(
                sa.select(sa.func.count()).where(Item.deleted_at.is_not(None))
            ),
        }
        session.close()
        items_seconds = time.perf_counter() - started

        # the files: contents into the store, rows attached to samples and cells
        contents = Contents(seed)
        store = LocalFileStore.at(state.settings["FILE_DIRECTORY"])
        plan = content_plan(files, store_bytes, seed)
        by_number: list[Any] = []
        stored_bytes = 0
        rows = 0
        for first in range(0, len(plan), 100):
            chunk = list(enumerate(plan[first : first + 100], start=first))
            stored = []
            for number, (kind, size) in chunk:
                content = store.store(io.BytesIO(contents.make(number, kind, size)))
                stored_bytes += content.size
                by_number.append(content)
                name = rng.choice(FILE_NAMES[kind]).format(n=number)
                stored.append((content, name))
                if rng.random() < 0.03 and by_number:  # the same file on a second item
                    stored.append((rng.choice(by_number), f"copy_of_{name}"))
            begin_write(session)
            wanted: dict[str, list[Any]] = {}
            for content, name in stored:
                refcode, owner = rng.choice(attachable)
                row = new_file_row(store, content, name, origin="upload", created_by_id=owner)
                session.add(row)
                wanted.setdefault(refcode, []).append(row)
            session.flush()
            loaded_items = session.scalars(sa.select(Item).where(Item.refcode.in_(wanted)))
            for item in loaded_items:
                links = [{"item_id": item.id, "file_id": row.id} for row in wanted[item.refcode]]
                session.execute(sa.insert(item_files), links)
                changed(session, item, "file_add", item.created_by_id)
                rows += len(links)
            record_noted_changes(session)
            session.commit()
            session.expunge_all()
    state.database.dispose()
    return {
        "items": items,
        **counts,
        "files": len(plan),
        "file_rows": rows,
        "store_bytes": stored_bytes,
        "made_items": made_items,
        "service_seconds": service_seconds,
        "items_seconds": items_seconds,
        "seconds": time.perf_counter() - started,
    }


def clone_items(engine: Any, prefix: str, items: int, rng: random.Random) -> None:
    """Make the items up to ``items`` as copies of those the services made (the
    templates), with the rows that go with them: versions, relationships, creators and
    blocks, and filterable field values. A copy has its own id, refcode, item_id and
    barcode, in its rows and in its versions' snapshots; it is written in bulk, a thousand
    items a transaction."""
    import sqlalchemy as sa
    from labvault.db import WRITE_OPTION
    from labvault.items.service import REFCODE_LETTERS
    from labvault.models import metadata

    tables = metadata.tables
    item_table = tables["items"]
    with engine.connect() as connection:
        templates = [dict(r._mapping) for r in connection.execute(
            sa.select(item_table).order_by(item_table.c.id))]  # fmt: skip
        owned: dict[str, dict[int, list[dict[str, Any]]]] = {}
        for name in (
            "item_versions",
            "item_relationships",
            "item_creators",
            "blocks",
            "item_field_values",
        ):
            table = tables[name]
            owned[name] = {}
            for row in connection.execute(sa.select(table).order_by(*table.primary_key)):
                values = dict(row._mapping)
                values.pop("id", None)
                owned[name].setdefault(values["item_id"], []).append(values)
    taken = {t["refcode"] for t in templates}
    next_id = max(t["id"] for t in templates) + 1
    for first in range(len(templates), items, 1000):
        rows: dict[str, list[dict[str, Any]]] = {name: [] for name in ("items", *owned)}
        for n in range(first, min(first + 1000, items)):
            template = templates[n % len(templates)]
            refcode = template["refcode"]
            while refcode in taken:
                refcode = f"{prefix}:{''.join(rng.choice(REFCODE_LETTERS) for _ in range(6))}"
            taken.add(refcode)
            old_id = template["item_id"]
            if old_id == template["refcode"].replace(":", "-"):
                item_id = refcode.replace(":", "-")
            else:
                item_id = re.sub(r"\d+$", f"{n:06d}", old_id)
            swaps = [(template["refcode"], refcode), (old_id, item_id)]
            swaps.append((old_id.replace("-", "_"), item_id.replace("-", "_")))
            barcode = (template["fields"] or {}).get("barcode")
            if barcode:
                swaps.append((barcode, f"CH-{n:07d}"))

            def swap(text: str, swaps: list[tuple[str, str]] = swaps) -> str:
                for before, after in swaps:
                    text = text.replace(before, after)
                return text

            item = dict(template, id=next_id, refcode=refcode, item_id=item_id)
            item["search_title"] = swap(template["search_title"])
            if barcode:
                item["fields"] = dict(template["fields"], barcode=f"CH-{n:07d}")
            rows["items"].append(item)
            for name, by_item in owned.items():
                for values in by_item.get(template["id"], ()):
                    copy = dict(values, item_id=next_id)
                    if name == "item_versions":
                        copy["snapshot"] = json.loads(swap(json.dumps(values["snapshot"])))
                    elif name == "item_field_values" and copy["text_value"]:
                        copy["text_value"] = swap(copy["text_value"])
                    rows[name].append(copy)
            next_id += 1
        writer = engine.connect().execution_options(**{WRITE_OPTION: True})
        with writer as connection, connection.begin():
            for name, batch in rows.items():
                if batch:
                    connection.execute(sa.insert(tables[name]), batch)
        if (first // 1000) % 10 == 9:
            print(f"  {first + 1000} items", file=sys.stderr, flush=True)


def count_rows() -> dict[str, Any]:
    """Rows of each table and contents of the file store of the configured instance."""
    from labvault.app import create_app
    from labvault.backups.dump import dumped_tables
    from labvault.builtins.store_local import LocalFileStore
    from labvault.models import metadata

    app = create_app()
    state = app.extensions["labvault"]
    with state.database.engine.connect() as connection:
        tables = {
            table.name: connection.execute(_counted(table)).scalar()
            for table in dumped_tables(metadata)
        }
    store = LocalFileStore.at(state.settings["FILE_DIRECTORY"])
    digests = list(store.all_digests())
    size = sum(store.path_for(d).stat().st_size for d in digests)
    state.database.dispose()
    return {"tables": tables, "contents": len(digests), "bytes": size}


def _counted(table: Any) -> Any:
    """The count of a table's rows; but the audit events of backups, written after the
    snapshot they tell of (a restore notes itself in the database it restored)."""
    import sqlalchemy as sa

    query = sa.select(sa.func.count()).select_from(table)
    if table.name == "audit_events":
        query = query.where(sa.not_(table.c.action.startswith("backup.")))
    return query


def profiled(call: Any, top: int) -> tuple[float, str]:
    """Seconds of ``call()`` under cProfile, and its ``top`` functions by cumulative
    and by own time."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    call()
    profiler.disable()
    seconds = time.perf_counter() - started
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return seconds, out.getvalue()


def profile_backup(top: int) -> dict[str, Any]:
    """run_strategy under cProfile: the full backup into a new repository, then again."""
    from labvault.app import create_app
    from labvault.backups.runs import run_strategy
    from labvault.backups.strategies import Backups
    from labvault.models import metadata
    from labvault.web.session import get_session

    app = create_app()
    state = app.extensions["labvault"]
    backups = Backups.configured(state.settings, state.registry, state.database, metadata)
    answer: dict[str, Any] = {}
    with app.app_context():
        for label in ("full", "unchanged"):
            answer[label] = profiled(lambda: run_strategy(get_session(), backups, STRATEGY), top)
    app.extensions["labvault"].database.dispose()
    return answer


def profile_restore(top: int, snapshot: str) -> dict[str, Any]:
    """restore() of ``snapshot`` under cProfile, as the CLI calls it, into the configured
    (new) database and (empty) file directory."""
    from labvault.app import create_app
    from labvault.backups import restore
    from labvault.backups.snapshot import temporary_folder
    from labvault.backups.strategies import Backups
    from labvault.cli.backups import AlembicMigrations
    from labvault.models import metadata

    app = create_app()
    state = app.extensions["labvault"]
    backups = Backups.configured(state.settings, state.registry, state.database, metadata)
    repository = backups.strategy(STRATEGY).repository()
    repository.open(create=False)
    source = restore.RepositorySource(repository, snapshot)
    with temporary_folder() as folder:
        answer = profiled(
            lambda: restore.restore(
                source,
                state.database.engine,
                backups.store,
                AlembicMigrations(state.settings["DATABASE_URL"]),
                Path(folder),
            ),
            top,
        )
    state.database.dispose()
    return {"restore": answer}


def child(phase: str, options: dict[str, Any]) -> dict[str, Any]:
    if phase == "build":
        return build(options["items"], options["files"], options["store_bytes"], options["seed"])
    if phase == "count":
        return count_rows()
    if phase == "profile":
        return profile_backup(options["top"])
    if phase == "profile-restore":
        return profile_restore(options["top"], options["snapshot"])
    raise SystemExit(f"unknown phase {phase}")


# --- running and measuring ------------------------------------------------------------------


@dataclass
class Lab:
    """One instance: its folder, config.py and strategy repository."""

    folder: Path
    database_url: str
    repository: Path
    level: int
    #: FILE_DIRECTORY (default: "files" in the folder)
    file_directory: Path | None = None

    @property
    def config(self) -> Path:
        return self.folder / "config.py"

    @property
    def files(self) -> Path:
        return self.file_directory or self.folder / "files"

    def write_config(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        strategies = {
            STRATEGY: {
                "target": {"type": "local", "path": str(self.repository)},
                "frequency": "1d",
                "retention": 10,
                "compression_level": self.level,
            }
        }
        settings = {
            "IDENTIFIER_PREFIX": "bench",
            "SECRET_KEY": SECRET_KEY,
            "INSTANCE_PATH": str(self.folder / "instance"),
            "DATABASE_URL": self.database_url,
            "FILE_DIRECTORY": str(self.files),
            "BACKUP_STRATEGIES": strategies,
        }
        self.config.write_text("".join(f"{k} = {v!r}\n" for k, v in settings.items()))

    def environment(self, root: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LABVAULT_")}
        env["LABVAULT_CONFIG"] = str(self.config)
        env["TMPDIR"] = str(root / "tmp")  # the backups' temporary dumps stay in the run's folder
        return env


@dataclass
class Run:
    seconds: float
    peak_mb: float
    stdout: str
    stderr: str


def measured(command: list[str], env: dict[str, str] | None, cwd: Path, what: str) -> Run:
    """Run ``command``; its wall time and its own peak memory (wait4's rusage)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env, cwd=cwd)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if process.returncode != 0:
        raise SystemExit(f"{what} failed ({process.returncode}):\n{stdout[-2000:]}{stderr[-3000:]}")
    return Run(seconds, usage.ru_maxrss / 1024, stdout, stderr)


def run_child(phase: str, lab: Lab, root: Path, **options: Any) -> tuple[dict[str, Any], Run]:
    command = [sys.executable, __file__, "--child", phase, json.dumps(options)]
    run = measured(command, lab.environment(root), lab.folder, phase)
    result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return result, run


def labvault(lab: Lab, root: Path, *arguments: str) -> Run:
    script = Path(sys.executable).with_name("labvault")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "labvault"]
    return measured([*command, *arguments], lab.environment(root), lab.folder, " ".join(arguments))


def reported_seconds(run: Run) -> float:
    """The time the command reports itself (``... in 12.3 s``): without its startup."""
    found = re.findall(r" in ([0-9.]+) s", run.stdout)
    return float(found[-1]) if found else float("nan")


def tar_gzip(files: Path, out: Path, level: int, root: Path) -> Run:
    command = ["tar", "-I", f"gzip -{level}", "-cf", str(out), "-C", str(files), "."]
    return measured(command, None, root, "tar")


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def snapshot_ids(repository: Path) -> list[str]:
    return sorted(p.parent.name for p in (repository / "snapshots").glob("*/manifest.json"))


def prepare_database(url: str) -> None:
    """A server database (--database) must be empty: the bench makes and drops its tables."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        names = sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()
    if names:
        raise SystemExit(f"--database {url} has tables ({len(names)}): give an empty database")


def drop_tables(url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        metadata = sa.MetaData()
        metadata.reflect(engine)
        metadata.drop_all(engine)
    finally:
        engine.dispose()


def mb_per_s(size: int, seconds: float) -> float:
    return size / MB / seconds if seconds > 0 else float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--store-mb", type=int, default=1024)
    parser.add_argument("--files", type=int, default=1000, help="contents of 4 KB to 8 MB")
    parser.add_argument("--level", type=int, default=6, choices=range(10), metavar="0-9")
    parser.add_argument("--database", help="the source database (default: SQLite in the folder)")
    parser.add_argument("--rss-items", type=int, default=0, help="also a lab of N items (memory)")
    parser.add_argument("--profile", action="store_true", help="cProfile backups and a restore")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--quick", action="store_true", help="5000 items, 100 files, 50 MB")
    parser.add_argument("--child", nargs=2, metavar=("PHASE", "OPTIONS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], json.loads(args.child[1]))))
        return
    if args.quick:
        args.items, args.files, args.store_mb = MADE_ITEMS, 100, 50
    if args.database:
        prepare_database(args.database)
    root = Path(tempfile.mkdtemp(prefix="lv-bench-backup-", dir="/tmp"))
    try:
        measure(args, root)
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
            if args.database:
                drop_tables(args.database)


def measure(args: argparse.Namespace, root: Path) -> None:
    (root / "tmp").mkdir()
    level = args.level
    source = Lab(
        root / "source",
        args.database or f"sqlite:///{root / 'source' / 'labvault.db'}",
        root / "repository",
        level,
    )
    source.write_config()
    print(
        f"building {args.items} items and {args.files} files ({args.store_mb} MB) in {root} ...",
        flush=True,
    )
    built, _ = run_child(
        "build",
        source,
        root,
        items=args.items,
        files=args.files,
        store_bytes=args.store_mb * MB,
        seed=args.seed,
    )
    store_bytes = built["store_bytes"]
    source_rows, _ = run_child("count", source, root)
    database_size = 0 if args.database else (source.folder / "labvault.db").stat().st_size
    print(
        f"built in {built['seconds']:.0f} s (items {built['items_seconds']:.0f} s, of which "
        f"{built['made_items']} through the services {built['service_seconds']:.0f} s): "
        f"{built['items']} items ({built['updated']} edited, {built['blocks']} with a comment, "
        f"{built['trashed']} in the trash), {built['files']} contents in {built['file_rows']} "
        f"file rows, {store_bytes / MB:.0f} MB; rows: "
        + ", ".join(f"{k} {v}" for k, v in source_rows["tables"].items() if v)
        + (f"; SQLite file {database_size / MB:.0f} MB" if database_size else ""),
        flush=True,
    )

    results: dict[str, Run] = {}
    tar_out = root / "baseline.tar.gz"
    results["tar1"] = tar_gzip(source.files, tar_out, level, root)
    tar_size = tar_out.stat().st_size
    tar_out.unlink()
    results["full"] = labvault(source, root, "backup", "create", "--strategy", STRATEGY)
    results["tar2"] = tar_gzip(source.files, tar_out, level, root)
    tar_out.unlink()
    repository_after_full = folder_bytes(source.repository)
    results["unchanged"] = labvault(source, root, "backup", "create", "--strategy", STRATEGY)
    snapshots = snapshot_ids(source.repository)
    first_snapshot = snapshots[0]
    manifest_object = source.repository / "snapshots" / first_snapshot / "manifest.json"
    manifest = json.loads(zlib.decompress(manifest_object.read_bytes()))  # not encrypted

    restored = Lab(
        root / "restored",
        f"sqlite:///{root / 'restored' / 'labvault.db'}",
        source.repository,
        level,
    )
    restored.write_config()
    results["restore"] = labvault(
        restored, root, "backup", "restore", "--strategy", STRATEGY, first_snapshot
    )
    restored_rows, _ = run_child("count", restored, root)
    # what the snapshot holds, by its manifest
    backed_up = {table["name"]: table["rows"] for table in manifest["tables"]}
    problems = [
        f"{table}: {restored_rows['tables'].get(table)} rows restored, {rows} backed up"
        for table, rows in backed_up.items()
        if restored_rows["tables"].get(table) != rows
    ]
    if (restored_rows["contents"], restored_rows["bytes"]) != (built["files"], store_bytes):
        problems.append(
            f"file store: {restored_rows['contents']} contents, {restored_rows['bytes']} bytes "
            f"restored; {built['files']}, {store_bytes} backed up"
        )
    shutil.rmtree(restored.folder)

    archive = root / "archive" / "backup.tar.gz"
    archive.parent.mkdir()
    results["archive"] = labvault(
        source, root, "backup", "create", "--output-path", str(archive),
        "--compression-level", str(level),
    )  # fmt: skip
    archive_size = archive.stat().st_size
    archive.unlink()

    for _ in range(UNCHANGED_DAYS - 1):  # the first was measured above
        labvault(source, root, "backup", "create", "--strategy", STRATEGY)
    repository_growth = folder_bytes(source.repository) / repository_after_full

    small_runs: dict[str, Run] = {}
    if args.rss_items:
        small = Lab(
            root / "small", f"sqlite:///{root / 'small' / 'labvault.db'}", source.repository, level
        )
        small.write_config()
        run_child(
            "build", small, root, items=args.rss_items, files=args.files,
            store_bytes=args.store_mb * MB, seed=args.seed,
        )  # fmt: skip
        small_runs["unchanged"] = labvault(small, root, "backup", "create", "--strategy", STRATEGY)
        shutil.rmtree(small.folder)

    profile: dict[str, Any] = {}
    if args.profile:
        backups = Lab(
            root / "profiled",
            source.database_url,
            root / "repository-profiled",
            level,
            source.files,
        )
        backups.write_config()
        profile, _ = run_child("profile", backups, root, top=25)
        shutil.rmtree(backups.repository)
        restores = Lab(
            root / "profiled-restore",
            f"sqlite:///{root / 'profiled-restore' / 'labvault.db'}",
            source.repository,
            level,
        )
        restores.write_config()
        # the first snapshot is gone by now (retention keeps the newest ten): the newest
        # holds the same rows and files
        restored_profile, _ = run_child(
            "profile-restore", restores, root, top=25, snapshot=snapshot_ids(source.repository)[-1]
        )
        profile.update(restored_profile)
        shutil.rmtree(restores.folder)

    report(args, built, store_bytes, tar_size, archive_size, repository_after_full, results,
           small_runs, profile, problems, manifest, repository_growth)  # fmt: skip


def report(
    args: argparse.Namespace,
    built: dict[str, Any],
    store_bytes: int,
    tar_size: int,
    archive_size: int,
    repository_size: int,
    results: dict[str, Run],
    small_runs: dict[str, Run],
    profile: dict[str, Any],
    problems: list[str],
    manifest: dict[str, Any],
    repository_growth: float,
) -> None:
    tar = min(results["tar1"].seconds, results["tar2"].seconds)
    full = results["full"].seconds
    full_inner = reported_seconds(results["full"])
    unchanged = results["unchanged"].seconds
    restore = results["restore"].seconds
    archive = results["archive"].seconds
    tar_rate = mb_per_s(store_bytes, tar)

    def rate(seconds: float) -> float:
        return mb_per_s(store_bytes, seconds)

    rows: list[tuple[str, float, float | None, float | None, str, str, float | None]] = []

    def row(
        what: str,
        seconds: float,
        throughput: float | None,
        ratio: float | None,
        target: str,
        met: bool | None,
        peak: float | None,
    ) -> None:
        rows.append((what, seconds, throughput, ratio, target, "" if met is None else
                     ("yes" if met else "NO"), peak))  # fmt: skip

    row("tar -czf (best of 2)", tar, tar_rate, 1.0, "baseline", None,
        min(results["tar1"].peak_mb, results["tar2"].peak_mb))  # fmt: skip
    full_ratio = rate(full) / tar_rate
    row("full backup (CLI)", full, rate(full), full_ratio, f">= {TARGET_FULL_VS_TAR}x tar",
        full_ratio >= TARGET_FULL_VS_TAR, results["full"].peak_mb)  # fmt: skip
    row("  of which run_strategy", full_inner, rate(full_inner), rate(full_inner) / tar_rate,
        "", None, None)  # fmt: skip
    unchanged_ratio = unchanged / full
    row("unchanged backup (CLI)", unchanged, None, unchanged_ratio,
        f"< {TARGET_UNCHANGED_RATIO:.2f}x full", unchanged_ratio < TARGET_UNCHANGED_RATIO,
        results["unchanged"].peak_mb)  # fmt: skip
    inner = reported_seconds(results["unchanged"])
    row("  of which run_strategy", inner, None, inner / full_inner, "", None, None)
    restore_ratio = restore / full
    row("restore (CLI)", restore, rate(restore), restore_ratio,
        f"< {TARGET_RESTORE_RATIO:.1f}x full", restore_ratio < TARGET_RESTORE_RATIO and
        not problems, results["restore"].peak_mb)  # fmt: skip
    inner = reported_seconds(results["restore"])
    row("  as the command reports", inner, rate(inner), inner / full_inner, "", None, None)
    archive_ratio = rate(archive) / tar_rate
    row("archive --output-path (CLI)", archive, rate(archive), archive_ratio,
        f">= {TARGET_FULL_VS_TAR}x tar", archive_ratio >= TARGET_FULL_VS_TAR,
        results["archive"].peak_mb)  # fmt: skip
    rows.append((f"repository, {UNCHANGED_DAYS} unchanged", float("nan"), None,
                 repository_growth, f"< {TARGET_GROWTH}x full",
                 "yes" if repository_growth < TARGET_GROWTH else "NO", None))  # fmt: skip
    if small_runs:
        run = small_runs["unchanged"]
        row(f"unchanged, {args.rss_items} items", run.seconds, None, run.seconds / unchanged,
            "(memory)", None, run.peak_mb)  # fmt: skip

    print()
    print(
        f"{built['items']} items, {built['files']} files, {store_bytes / MB:.0f} MB; gzip level "
        f"{args.level}; load {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs; files read "
        "from the page cache by every command (tar ran before and after the full backup: "
        f"{results['tar1'].seconds:.1f} s, {results['tar2'].seconds:.1f} s)"
    )
    dump = sum(part["size"] for part in manifest["parts"].values())
    rows_dumped = sum(table["rows"] for table in manifest["tables"])
    print(
        f"sizes: tar.gz {tar_size / MB:.0f} MB, repository after the full backup "
        f"{repository_size / MB:.0f} MB, archive {archive_size / MB:.0f} MB; the database "
        f"dump {dump / MB:.0f} MB ({rows_dumped} rows, before compression)"
    )
    print(
        f"{'what':<30} {'seconds':>8} {'MB/s':>7} {'ratio':>6}  {'target':<16} {'met':<4} "
        f"{'peak MB':>7}"
    )
    for what, seconds, throughput, ratio, target, met, peak in rows:
        print(
            f"{what:<30} {seconds:>8.1f} "
            f"{'' if throughput is None else f'{throughput:.1f}':>7} "
            f"{'' if ratio is None else f'{ratio:.2f}':>6}  {target:<16} {met:<4} "
            f"{'' if peak is None else f'{peak:.0f}':>7}"
        )
    print(
        "ratio: throughput / tar's for the full backup and the archive; seconds / the full "
        "backup's for the unchanged backup and the restore (run_strategy rows: / its own); "
        f"the repository's size on disk after {UNCHANGED_DAYS} unchanged backups / after the "
        "full one"
    )
    print("what the commands said:")
    for name in ("full", "unchanged", "restore", "archive"):
        said = results[name].stdout.strip().splitlines()
        print(f"  {name}: {said[-1] if said else ''}")
    if problems:
        print("THE RESTORE DIFFERS:", *problems, sep="\n  ")
    else:
        print("restore checked: every table's row count and every content match")
    for label, (seconds, text) in profile.items():
        call = "restore()" if label == "restore" else f"run_strategy, {label}"
        print(f"\n--- cProfile of {call} ({seconds:.1f} s under the profiler)")
        print(re.sub(r"\n{3,}", "\n\n", text.strip()))


if __name__ == "__main__":
    main()
