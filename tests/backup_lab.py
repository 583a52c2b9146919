"""What the backup tests share: a lab full of records, and their exact state to compare.

``populate`` fills an app through the API with every kind of row there is (users and an
API key, items of each type with odd text, versions, relationships, blocks, files,
collections and shares, an item in the trash). ``database_state`` and ``store_state``
read back every row of every table a snapshot holds and every file byte, so a restore
can be compared with what was backed up.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from labvault.app import create_app
from labvault.backups import restore
from labvault.backups.dump import dumped_tables
from labvault.backups.strategies import Backups
from labvault.builtins.store_local import LocalFileStore
from labvault.cli.backups import AlembicMigrations
from labvault.migrations import create_schema
from labvault.models import metadata
from labvault.testing import TEST_SECRET_KEY

from tests.records import create_item, patch_item

LABVAULT = str(Path(sys.executable).parent / "labvault")

NAMES = [
    "Ethanol 96 %",
    "Ni\u2013Mn\u2013Co oxide \U0001f50b",
    "\u8a66\u6599 A",
    'O\'Brien "quoted" \\ back',
]


def populate(app: Any, make_user: Any, *, files: int = 4, file_size: int = 50_000) -> None:
    client = app.test_client()
    admin = make_user(app, role="admin")
    alice = make_user(app)
    bob = make_user(app, role="manager")
    key = client.post("/users/me/api-keys", json={"name": "instrument"}, headers=alice.headers)
    assert key.status_code == 201, key.json
    collection = client.post(
        "/collections", json={"collection_id": "batch-7", "title": "Batch 7"}, headers=bob.headers
    )
    assert collection.status_code == 201, collection.json
    refcodes = []
    for number, name in enumerate(NAMES):
        item = create_item(
            client,
            alice,
            name=name,
            description=f"line one\nline two of {name}",
            item_id=f"sample-{number:03d}",
        )
        refcodes.append(item["refcode"])
    create_item(
        client,
        bob,
        type="starting_material",
        name="acetone",
        item_id="acetone-1",
        cas="67-64-1",
        barcode="CH-001",
        collections=["batch-7"],
        attributes={"shelf": "B2", "hazards": "H225, H319"},
    )
    cell = create_item(
        client,
        alice,
        type="cell",
        name="coin cell",
        item_id="cell-1",
        relationships=[{"refcode": refcodes[1], "relation": "parent"}],
    )
    edited = patch_item(client, alice, refcodes[0], {"name": "Ethanol 99.8 %"})
    assert edited.status_code == 200, edited.json
    for number in range(files):
        content = os.urandom(file_size // 2) + bytes([number]) * (file_size - file_size // 2)
        response = client.post(
            f"/items/{refcodes[number % len(refcodes)]}/files",
            data={"file": (io.BytesIO(content), f"raw-{number}.dat")},
            content_type="multipart/form-data",
            headers=alice.headers,
        )
        assert response.status_code == 201, response.json
    block = client.post(
        f"/items/{cell['refcode']}/blocks",
        json={"block_type": "comment", "data": {"text": "cycled **twice** ✓"}},
        headers=alice.headers,
    )
    assert block.status_code == 201, block.json
    trashed = client.delete(
        f"/items/{refcodes[3]}",
        headers={
            **alice.headers,
            "If-Match": client.get(f"/items/{refcodes[3]}", headers=alice.headers).headers["ETag"],
        },
    )
    assert trashed.status_code == 204, trashed.get_data(as_text=True)
    assert admin and bob


def database_state(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table a snapshot holds, in primary key order; but the audit
    events of backups, committed after the snapshot they tell of (so never in it)."""
    state = {}
    with engine.connect() as connection:
        for table in dumped_tables(metadata):
            query = sa.select(table).order_by(*table.primary_key.columns)
            if table.name == "audit_events":
                query = query.where(sa.not_(table.c.action.startswith("backup.")))
            state[table.name] = [tuple(row) for row in connection.execute(query)]
    return state


def store_state(folder: str | Path) -> dict[str, str]:
    """sha256 of each content's bytes (read back), by the name it is stored under."""
    store = LocalFileStore.at(Path(folder))
    state = {}
    for name in store.all_digests():
        with store.open(name) as stream:
            state[name] = hashlib.sha256(stream.read()).hexdigest()
    return state


def make_app(folder: Path, url: str, tables: bool = True, **strategy: Any) -> Any:
    """An app in ``folder`` with a strategy "nightly" on a local target beside it."""
    app = create_app(
        {
            "IDENTIFIER_PREFIX": "test",
            "SECRET_KEY": TEST_SECRET_KEY,
            "INSTANCE_PATH": str(folder),
            "DATABASE_URL": url,
            "BACKUP_STRATEGIES": {
                "nightly": {
                    "target": {"type": "local", "path": str(folder.parent / "repository")},
                    "frequency": "1d",
                    "retention": 3,
                    **strategy,
                }
            },
        }
    )
    app.config["TESTING"] = True
    if tables:
        create_schema(app.extensions["labvault"].database.engine)
    return app


def wipe_rows(engine: sa.Engine) -> None:
    """Leave labvault's schema with no rows (as `labvault db upgrade` makes it)."""
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(sa.delete(table))


def backups_of(app: Any) -> Backups:
    """What backing up ``app`` takes (its strategies, database and file store)."""
    state = app.extensions["labvault"]
    return Backups.configured(state.settings, state.registry, state.database, metadata)


def restore_into(app: Any, source: Any, folder: Path) -> restore.RestoreReport:
    state = app.extensions["labvault"]
    with app.app_context():
        try:
            return restore.restore(
                source,
                state.database.engine,
                state.file_store,
                AlembicMigrations(state.settings["DATABASE_URL"]),
                folder,
            )
        finally:
            source.close()


class Site:
    """A deployment folder whose config.py has the settings of ``make_app``'s apps; its
    commands keep their temporary folders in ``temp`` (TMPDIR), inside the site."""

    def __init__(self, root: Path, url: str, repository: Path | None = None) -> None:
        self.root = root
        self.url = url
        root.mkdir(parents=True, exist_ok=True)
        settings = {
            "IDENTIFIER_PREFIX": "test",
            "SECRET_KEY": TEST_SECRET_KEY,
            "INSTANCE_PATH": str(root / "site"),
            "DATABASE_URL": url,
            "BACKUP_STRATEGIES": {
                "nightly": {
                    "target": {"type": "local", "path": str(repository or root / "repository")},
                    "frequency": "1d",
                    "retention": 3,
                }
            },
        }
        (root / "config.py").write_text("".join(f"{k} = {v!r}\n" for k, v in settings.items()))
        self.temp = root / "tmp"
        self.temp.mkdir(exist_ok=True)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LABVAULT_")}
        return {**env, "LABVAULT_CONFIG": str(self.root / "config.py"), "TMPDIR": str(self.temp)}

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [LABVAULT, *args],
            env=self.env(),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert "Traceback" not in done.stderr, done.stderr
        return done

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [LABVAULT, *args],
            env=self.env(),
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def app(self, **populated: Any) -> Any:
        return make_app(self.root / "site", self.url)
