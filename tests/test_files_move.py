"""``labvault files move``: every content copied from one file store to another and
verified, a move that stopped going on where it stopped, damage reported."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from click.testing import CliRunner
from labvault.builtins.store_local import LocalFileStore
from labvault.cli import cli

from tests.test_files import upload, without_labvault_environment, write_config


def files_of(client: Any, owner: Any, refcode: str) -> list[dict[str, Any]]:
    return client.get(f"/items/{refcode}/files", headers=owner.headers).json


@pytest.fixture
def site(labvault_make_app, labvault_make_user, tmp_path, monkeypatch) -> Any:
    app = labvault_make_app(FILE_DIRECTORY=str(tmp_path / "files"))
    owner = labvault_make_user(app)
    client = app.test_client()
    refcode = client.post(
        "/items", json={"type": "sample", "name": "s"}, headers=owner.headers
    ).json["refcode"]
    contents = [b"first", os.urandom(3 << 20), b"third"]
    for number, data in enumerate(contents):
        response = upload(client, owner, refcode, content=data, name=f"f{number}.bin")
        assert response.status_code == 201, response.json
    without_labvault_environment(monkeypatch)
    runner = CliRunner(env={"LABVAULT_CONFIG": str(write_config(app, tmp_path / "site.py"))})
    return app, owner, refcode, contents, runner


def test_move_copies_every_content_and_verifies_it(site, labvault_make_app, tmp_path):
    app, owner, refcode, contents, runner = site
    target = {"type": "local", "path": str(tmp_path / "moved")}

    moved = runner.invoke(cli, ["files", "move", "--to", json.dumps(target)])
    again = runner.invoke(cli, ["files", "move", "--to", json.dumps(target), "--quiet"])

    assert moved.exit_code == 0, moved.output
    assert moved.output.count("copied ") == len(contents) + 1
    assert f"copied {len(contents)} content(s) " in moved.output
    assert f"{len(contents)} verified in {tmp_path / 'moved'}" in moved.output
    assert again.exit_code == 0, again.output
    assert again.output.splitlines()[-1].startswith("copied 0 content(s) (0 bytes)")
    assert f"{len(contents)} there already" in again.output
    # the server switched to the new store serves every file from it
    settings = app.extensions["labvault"].settings
    switched = labvault_make_app(DATABASE_URL=settings["DATABASE_URL"], FILE_STORE=target)
    client = switched.test_client()
    for listed, data in zip(files_of(client, owner, refcode), contents, strict=True):
        assert client.get(listed["content_url"], headers=owner.headers).data == data


def test_damaged_content_is_reported_not_copied(site, tmp_path):
    app, owner, refcode, _, runner = site
    store = app.extensions["labvault"].file_store
    damaged = files_of(app.test_client(), owner, refcode)[0]["sha256"]
    path = store.path_for(damaged)
    path.chmod(0o644)
    path.write_bytes(b"FIRST")
    target = {"type": "local", "path": str(tmp_path / "moved")}

    moved = runner.invoke(cli, ["files", "move", "--to", json.dumps(target)])

    assert moved.exit_code == 1
    assert f"problem: {damaged}: damaged in {store.root}" in moved.output
    assert str(moved.exception) == "1 content(s) could not be moved"  # main: one line
    assert LocalFileStore.at(tmp_path / "moved").stat(damaged) is None


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--to", "{"], "--to: not JSON"),
        (["--to", "[]"], "--to: must be an object"),
        (["--to", '{"type": "tape"}'], "--to.type: unknown file store type 'tape'"),
        (["--to", '{"type": "local", "path": "rel"}'], "--to.path: must be an absolute path"),
        (["--to", '{"type": "local"}'], "--from and --to are the same store"),
        ([], "name the other store"),
    ],
)
def test_a_wrong_store_is_one_line(site, arguments, message):
    *_, runner = site

    result = runner.invoke(cli, ["files", "move", *arguments])

    assert result.exit_code != 0
    assert message in result.output + str(result.exception)
