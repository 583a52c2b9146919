"""Copying files from a source into the store, and keeping those copies fresh.

A copy remembers where it came from (source, path) and what the original was then (size,
modified time). When its content is read and it was checked longer ago than
REMOTE_CACHE_MAX_AGE, the original is stat'ed: unchanged, the copy is served; changed,
the new content is copied as a new file that takes the old one's place in its items
(each keeps a version, so the old content stays reachable) and the reader is redirected
to it; unreachable, the copy is served with headers saying how old it is.
"""

from __future__ import annotations

import datetime as dt
import logging
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labvault.auth.models import User
from labvault.db import begin_write, utcnow
from labvault.errors import ContentTooLarge, DomainError, NotFound
from labvault.files import service as files
from labvault.files.models import StoredFile, item_files
from labvault.items.history import changed
from labvault.items.models import Item
from labvault.paging import PageRequest
from labvault.plugin import FileSource, FileStore, RemoteEntry
from labvault.registry import FILE_SOURCES, Registry
from labvault.sources import listing
from labvault.sources.paths import open_served, served_path, stat_served

LOG = logging.getLogger("labvault.sources")


@dataclass(frozen=True)
class FileSources:
    """The file sources of a server (``FILE_SOURCES``), the store copies go to, and how
    large and how old they may be."""

    instances: Mapping[str, FileSource]
    store: FileStore
    #: The largest file copied (MAX_CONTENT_LENGTH).
    max_size: int
    #: How old a listing, or a copy's last check, may get (REMOTE_CACHE_MAX_AGE).
    max_age: dt.timedelta
    #: How soon a listing may be rebuilt again on request (REMOTE_CACHE_MIN_AGE).
    min_age: dt.timedelta

    @classmethod
    def configured(cls, settings: Mapping[str, Any], registry: Registry) -> FileSources:
        return cls(
            registry.instances_of(FILE_SOURCES),
            registry.file_store(),
            settings["MAX_CONTENT_LENGTH"],
            dt.timedelta(minutes=settings["REMOTE_CACHE_MAX_AGE"]),
            dt.timedelta(minutes=settings["REMOTE_CACHE_MIN_AGE"]),
        )

    def get(self, name: str) -> FileSource:
        source = self.instances.get(name)
        if source is None:
            raise NotFound(f"no file source {name!r}")
        return source


def _origin(name: str, path: str, entry: RemoteEntry) -> dict[str, Any]:
    return {
        "origin": f"{name}:{path}",
        "source": name,
        "source_path": path,
        "remote_size": entry.size,
        "remote_modified": entry.modified,
        "checked_at": utcnow(),
    }


def _copy(
    sources: FileSources, user_id: int | None, name: str, source: FileSource, path: str
) -> StoredFile:
    """A new file row (not yet added) for the content at ``path``, copied into the store
    (as it was opened: the origin's size and time are those of the file read)."""
    entry, stream = open_served(name, source, path)
    with stream:
        if entry.size is not None and entry.size > sources.max_size:
            raise ContentTooLarge(sources.max_size)
        content = files.keep_content(sources.store, stream, max_size=sources.max_size)
    stored = files.new_file_row(
        sources.store, content, posixpath.basename(entry.path), **_origin(name, entry.path, entry)
    )
    stored.created_by_id = user_id
    return stored


def attach_from_source(
    session: Session, sources: FileSources, user: User, refcode: str, name: str, path: str
) -> StoredFile:
    """Copy a file of a source into the store and attach it to the item (a version)."""
    item = files.writable_item(session, user, refcode)
    stored = _copy(sources, user.id, name, sources.get(name), path)
    return files.attach(session, user, item, stored)


def _stale_headers(stored: StoredFile, why: str) -> dict[str, str]:
    checked = stored.checked_at or stored.created_at
    age = int((utcnow() - checked).total_seconds())
    return {
        "X-Labvault-Copy-Age": str(age),
        "X-Labvault-Copy-Note": f"served the copy checked {age} s ago: {why}"[:300],
    }


def _replace(session: Session, old: StoredFile, new: StoredFile) -> None:
    """Put ``new`` in ``old``'s place in every item that has it, each with a version."""
    begin_write(session)
    session.add(new)
    session.flush()
    holders = session.scalars(
        sa.select(Item)
        .join(item_files, item_files.c.item_id == Item.id)
        .where(item_files.c.file_id == old.id)
        .with_for_update(of=Item)
    ).all()
    for item in holders:
        session.execute(
            sa.delete(item_files).where(
                item_files.c.item_id == item.id, item_files.c.file_id == old.id
            )
        )
        session.execute(sa.insert(item_files).values(item_id=item.id, file_id=new.id))
        changed(session, item, "file_refresh", None)
    # the old copy is history now (its versions refer to it): it is not checked again
    session.execute(sa.update(StoredFile).where(StoredFile.id == old.id).values(source=None))
    session.commit()


@dataclass(frozen=True)
class CopyCheck:
    """What :func:`check_copy` found: serve the file as it is (nothing set), serve the
    newer copy that took its place (``replaced_by``), or serve it with ``headers`` saying
    how old it is (its original could not be checked)."""

    replaced_by: StoredFile | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


def check_copy(session: Session, sources: FileSources, stored: StoredFile) -> CopyCheck:
    """Before a file's content is read: compare a copy from a file source, checked longer
    than ``max_age`` ago, with its original (see the module's text). Uploads pass."""
    if stored.source is None or stored.source_path is None:
        return CopyCheck()
    if stored.checked_at is not None and utcnow() - stored.checked_at < sources.max_age:
        return CopyCheck()
    source = sources.instances.get(stored.source)
    if source is None:
        why = f"the file source {stored.source} is not configured"
        return CopyCheck(headers=_stale_headers(stored, why))
    try:
        entry = stat_served(stored.source, source, stored.source_path)
        if (entry.size, entry.modified) == (stored.remote_size, stored.remote_modified):
            begin_write(session)
            session.execute(
                sa.update(StoredFile).where(StoredFile.id == stored.id).values(checked_at=utcnow())
            )
            session.commit()
            return CopyCheck()
        new = _copy(sources, stored.created_by_id, stored.source, source, stored.source_path)
    except DomainError as error:  # unreachable, gone, no longer allowed: the copy it is
        LOG.warning("file %s: original not checked: %s", stored.id, error.message)
        return CopyCheck(headers=_stale_headers(stored, error.message))
    new.name = stored.name
    _replace(session, stored, new)
    return CopyCheck(replaced_by=new)


# --- listings ------------------------------------------------------------------------------


def source_infos(session: Session, sources: FileSources) -> list[dict[str, Any]]:
    """Every source with the state of its listing."""
    now = utcnow()
    infos = []
    for name, source in sources.instances.items():
        state = listing.state_of(session, name)
        built = state.built_at if state is not None else None
        infos.append(
            {
                "name": name,
                "type": source.name,
                "description": source.options.get("description") or source.description,
                "built_at": built,
                "cache_age": int((now - built).total_seconds()) if built else None,
                "entry_count": state.entry_count if state is not None else 0,
                "last_error": state.error if state is not None else None,
            }
        )
    return infos


def folder_page(
    session: Session,
    sources: FileSources,
    name: str,
    path: str,
    refresh: bool,
    page: PageRequest,
) -> dict[str, Any]:
    """A page of the entries of a folder, from a listing recent enough."""
    source = sources.get(name)
    folder = served_path(name, source, path)
    fresh = listing.fresh_listing(
        session,
        name,
        source,
        max_age=sources.max_age,
        min_age=sources.min_age,
        refresh=refresh,
    )
    if not listing.is_listed_folder(session, name, folder):
        raise NotFound(f"the listing of {name} has no folder {folder!r}")
    if folder and folder.count("/") + 1 >= source.options["max_depth"]:
        raise NotFound(
            f"the listing of {name} stops above {folder!r}: it is deeper than the source's "
            f"max_depth ({source.options['max_depth']})"
        )
    rows, count = listing.folder_entries(session, name, folder, page.first_item, page.page_size)
    page.item_count = count
    return {
        "source": name,
        "path": folder,
        "built_at": fresh.built_at,
        "age": int((utcnow() - fresh.built_at).total_seconds()),
        "refreshed": fresh.refreshed,
        "note": fresh.note,
        "entries": [
            {
                "name": row.path.rsplit("/", 1)[-1],
                "path": row.path,
                "is_dir": row.is_dir,
                "size": row.size,
                "modified": (
                    dt.datetime.fromtimestamp(row.modified, dt.UTC)
                    if row.modified is not None
                    else None
                ),
            }
            for row in rows
        ],
    }
