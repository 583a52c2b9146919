"""schemathesis against a served labvault: zero server errors, zero answers off the spec.

A site is seeded with records of two users (items of every type, relationships,
collections shared between them, files, blocks of each built-in type, versions, the
trash, API keys) and served by `labvault serve` (gunicorn); schemathesis then runs every
check, in all its phases including the stateful one, as an admin and as a plain user,
each against its own copy of the site. Every finding fails the test with schemathesis'
own report, which says how to reproduce it.

The findings judged false positives are listed, each with its reason, in one place:
tests/schemathesis.toml. The run is bounded in time (FUZZ_SECONDS per role).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.test_cli import Server, Site, make_site, new_user_token

#: schemathesis' time budget per role; a longer run finds more (LABVAULT_FUZZ_SECONDS).
FUZZ_SECONDS = int(os.environ.get("LABVAULT_FUZZ_SECONDS", "35"))
#: schemathesis' seed; another one explores other inputs (LABVAULT_FUZZ_SEED).
FUZZ_SEED = os.environ.get("LABVAULT_FUZZ_SEED", "1")
CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMATHESIS = Path(sys.executable).with_name("st")
CSV = b"time,voltage\n0,3.1\n1,3.3\n2,3.6\n"
#: the smallest PNG: one transparent pixel
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478"
    "da63f8ffff3f0005fe02fea7d6a4a40000000049454e44ae426082"
)


class Seeder:
    """One user's records, made through the API in this process (the server is not up)."""

    def __init__(self, client: Any, token: str) -> None:
        self.client, self.headers = client, {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.client.open(path, method=method, headers=self.headers, **kwargs)
        assert response.status_code == status, (method, path, response.get_data(as_text=True))
        return response

    def item(self, **fields: Any) -> str:
        refcode: str = self.call("POST", "/items", 201, json=fields).json["refcode"]
        return refcode

    def upload(self, refcode: str, name: str, content: bytes) -> int:
        data = {"file": (io.BytesIO(content), name)}
        answer = self.call("POST", f"/items/{refcode}/files", 201, data=data)
        file_id: int = answer.json["id"]
        return file_id

    def if_match(self, path: str) -> dict[str, str]:
        return {**self.headers, "If-Match": self.call("GET", path).headers["ETag"]}

    def seed(self, name: str, other_user_id: int) -> None:
        material = self.item(type="starting_material", name=f"{name} salt", cas="7647-14-5")
        sample = self.item(
            type="sample",
            name=f"{name} sample",
            synthesis_constituents=[{"item": material, "quantity": 1.5, "unit": "g"}],
        )
        self.item(type="cell", name=f"{name} cell", cell_format="coin")
        self.item(type="equipment", name=f"{name} furnace", manufacturer="Acme")
        edited = self.client.patch(
            f"/items/{sample}",
            json={"description": "annealed"},
            headers=self.if_match(f"/items/{sample}"),
        )
        assert edited.status_code == 200, edited.json
        shares = [{"user_id": other_user_id, "permission": "write"}]
        collection = {"collection_id": f"{name}-shared", "shares": shares}
        self.call("POST", "/collections", 201, json=collection)
        self.call("PUT", f"/collections/{name}-shared/items/{sample}", 204)
        csv_id = self.upload(sample, "cycling.csv", CSV)
        png_id = self.upload(sample, "micrograph.png", PNG)
        self.upload(sample, "notes.txt", b"furnace at 900 C\n")
        blocks = f"/items/{sample}/blocks"
        self.call("POST", blocks, 201, json={"block_type": "comment", "data": {"text": "ok"}})
        self.call("POST", blocks, 201, json={"block_type": "tabular", "file_ids": [csv_id]})
        self.call("POST", blocks, 201, json={"block_type": "media", "file_ids": [png_id]})
        trashed = self.item(type="sample", name=f"{name} discarded")
        deleted = self.client.delete(
            f"/items/{trashed}", headers=self.if_match(f"/items/{trashed}")
        )
        assert deleted.status_code == 204
        self.call("POST", "/users/me/api-keys", 201, json={"name": f"{name} script"})


def seeded_site(root: Path) -> tuple[Site, dict[str, str]]:
    """An upgraded site with an admin and a plain user, each with records; their tokens."""
    from labvault.app import create_app

    site = make_site(root)
    # rate limits the fuzzer never reaches, so that it gets to what lies behind them
    # (they still count every attempt); tests/test_rate_limits.py tests the limits
    site.settings["RATE_LIMITS"] = {"signin": "999999/minute", "token": "999999/minute"}
    site.write_config()
    site.ok("db", "upgrade")
    tokens = {
        "admin": new_user_token(site, "admin@lab.org", "admin"),
        "user": new_user_token(site, "member@lab.org"),
    }
    app = create_app(site.settings)
    try:
        client = app.test_client()
        seeders = {role: Seeder(client, token) for role, token in tokens.items()}
        ids = {role: s.call("GET", "/users/me").json["id"] for role, s in seeders.items()}
        seeders["admin"].seed("admin", ids["user"])
        seeders["user"].seed("member", ids["admin"])
    finally:
        app.extensions["labvault"].database.dispose()
    return site, tokens


@pytest.mark.parametrize("role", ["admin", "user"])
def test_schemathesis_finds_nothing(role: str, tmp_path: Path) -> None:
    site, tokens = seeded_site(tmp_path / "site")
    server = Server(site, "--workers", "2")
    try:
        server.wait_until_ready()
        command = [
            str(SCHEMATHESIS),
            "--config-file",
            str(CONFIG),
            "run",
            f"{server.base_url}/openapi.json",
            "--header",
            f"Authorization: Bearer {tokens[role]}",
            # one worker: with two threads, hypothesis describing its filters runs ast.parse
            # in both at once, which CPython 3.11 before 3.11.8 can fail with "SystemError:
            # AST constructor recursion depth mismatch" (gh-106905), a crash of the tool
            "--workers",
            "1",
            "--max-time",
            str(FUZZ_SECONDS),
            "--seed",
            FUZZ_SEED,
            "--generation-database",
            "none",
            "--no-color",
        ]
        # schemathesis keeps caches in its working directory
        run = subprocess.run(
            command,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=FUZZ_SECONDS + 300,
            check=False,
        )
        report = run.stdout[-20_000:] + run.stderr[-5_000:]
        assert run.returncode == 0, f"schemathesis as {role} found problems:\n{report}"
        assert "unhandled error" not in server.log(), server.log()[-10_000:]
    finally:
        server.kill()
