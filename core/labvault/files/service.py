"""Files of items: upload into the content-addressed store, link, unlink, collect garbage."""

from __future__ import annotations

from pathlib import Path

from flask import current_app

from labvault.files.storage import FileStore


def store() -> FileStore:
    return FileStore(Path(current_app.extensions["labvault"].settings["FILE_DIRECTORY"]))


def content_path(sha256: str) -> Path:
    return store().path_for(sha256)
