"""The built-in ``local`` file store keeps the file store contract, is what
``FILE_STORE`` configures by default, and reads a FILE_DIRECTORY of before file stores
as it is."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import pytest
from labvault.builtins.store_local import LocalFileStore
from labvault.errors import ConfigError
from labvault.testing import FileStoreContract


class TestLocalFileStore(FileStoreContract):
    @pytest.fixture
    def file_store(self, tmp_path: Path) -> Any:
        return LocalFileStore.at(tmp_path / "files")


def test_the_default_store_is_local_in_file_directory(labvault_make_app, tmp_path):
    app = labvault_make_app(FILE_DIRECTORY=str(tmp_path / "kept"))

    store = app.extensions["labvault"].file_store

    assert isinstance(store, LocalFileStore)
    assert store.root == tmp_path / "kept"


def test_file_store_names_another_folder(labvault_make_app, tmp_path):
    app = labvault_make_app(FILE_STORE={"type": "local", "path": str(tmp_path / "elsewhere")})

    assert app.extensions["labvault"].file_store.root == tmp_path / "elsewhere"


@pytest.mark.parametrize(
    ("file_store", "problem"),
    [
        ({"type": "tape"}, "FILE_STORE.type: unknown file store type 'tape'; available types: "),
        ({"path": "/srv/files"}, "FILE_STORE.type: missing"),
        ({"type": "local", "path": "files"}, "FILE_STORE.path: must be an absolute path"),
        ({"type": "local", "bucket": "b"}, "FILE_STORE.bucket: unknown option"),
    ],
)
def test_a_wrong_file_store_stops_startup_naming_the_key(labvault_make_app, file_store, problem):
    with pytest.raises(ConfigError) as raised:
        labvault_make_app(FILE_STORE=file_store)

    assert problem in str(raised.value)


def test_content_of_a_file_directory_from_before_file_stores_is_served_as_it_is(
    labvault_make_app, labvault_make_user, tmp_path
):
    # what an older labvault left: <root>/ab/cd/<sha256>, read-only, a tmp/ and a .lock
    root = tmp_path / "files"
    data = b"time,voltage\n0,1.5\n"
    digest = hashlib.sha256(data).hexdigest()
    (root / digest[:2] / digest[2:4]).mkdir(parents=True)
    (root / digest[:2] / digest[2:4] / digest).write_bytes(data)
    (root / "tmp").mkdir()
    (root / ".lock").touch()
    app = labvault_make_app(FILE_DIRECTORY=str(root))
    owner = labvault_make_user(app)
    client = app.test_client()
    refcode = client.post(
        "/items", json={"type": "sample", "name": "s"}, headers=owner.headers
    ).json["refcode"]

    # the same content uploaded again is found in place, not stored twice
    uploaded = client.post(
        f"/items/{refcode}/files",
        data={"file": (io.BytesIO(data), "run.csv")},
        headers=owner.headers,
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 201, uploaded.json
    content = client.get(
        f"/files/{uploaded.json['id']}/content", headers={**owner.headers, "Range": "bytes=5-11"}
    )

    assert content.status_code == 206
    assert content.data == data[5:12]
    assert [info.sha256 for info in app.extensions["labvault"].file_store.list()] == [digest]
