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
import posixpath
from collections.abc import Mapping
from typing import Any

import flask
import sqlalchemy as sa
from flask import current_app, url_for
from sqlalchemy.orm import Session

from labvault.auth.models import User
from labvault.db import begin_write, utcnow
from labvault.errors import ContentTooLarge, DomainError, NotFound
from labvault.files import service as files
from labvault.files.models import StoredFile, item_files
from labvault.items.history import changed
from labvault.items.models import Item
from labvault.paging import PageRequest
from labvault.plugin import FileSource, RemoteEntry
from labvault.registry import FILE_SOURCES
from labvault.sources import listing
from labvault.sources.paths import open_served, served_path, stat_served


def sources() -> Mapping[str, FileSource]:
    return current_app.extensions["labvault"].registry.instances_of(FILE_SOURCES)


def get_source(name: str) -> FileSource:
    source = sources().get(name)
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


def _copy(user_id: int | None, name: str, source: FileSource, path: str) -> StoredFile:
    """A new file row (not yet added) for the content at ``path``, copied into the store
    (as it was opened: the origin's size and time are those of the file read)."""
    entry, stream = open_served(name, source, path)
    with stream:
        limit = current_app.extensions["labvault"].settings["MAX_CONTENT_LENGTH"]
        if entry.size is not None and entry.size > limit:
            raise ContentTooLarge(limit)
        content = files.keep_content(stream)
    stored = files.new_file_row(
        content, posixpath.basename(entry.path), **_origin(name, entry.path, entry)
    )
    stored.created_by_id = user_id
    return stored


def attach_from_source(
    session: Session, user: User, refcode: str, name: str, path: str
) -> StoredFile:
    """Copy a file of a source into the store and attach it to the item (a version)."""
    files.writable_item(session, user, refcode)
    stored = _copy(user.id, name, get_source(name), path)
    return files.attach(session, user, refcode, stored)


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


def keep_fresh(session: Session, user: User, stored: StoredFile) -> Any:
    """The content check of copies (see the module's text); None serves the copy."""
    if stored.source is None or stored.source_path is None:
        return None
    if stored.checked_at is not None and utcnow() - stored.checked_at < _minutes(
        "REMOTE_CACHE_MAX_AGE"
    ):
        return None
    source = sources().get(stored.source)
    if source is None:
        return _stale_headers(stored, f"the file source {stored.source} is not configured")
    try:
        entry = stat_served(stored.source, source, stored.source_path)
        if (entry.size, entry.modified) == (stored.remote_size, stored.remote_modified):
            begin_write(session)
            session.execute(
                sa.update(StoredFile).where(StoredFile.id == stored.id).values(checked_at=utcnow())
            )
            session.commit()
            return None
        new = _copy(stored.created_by_id, stored.source, source, stored.source_path)
    except DomainError as error:  # unreachable, gone, no longer allowed: the copy it is
        current_app.logger.warning("file %s: original not checked: %s", stored.id, error.message)
        return _stale_headers(stored, error.message)
    new.name = stored.name
    _replace(session, stored, new)
    return flask.redirect(url_for("files.file_content", file_id=new.id), 307)


files.content_checks.append(keep_fresh)


# --- listings ------------------------------------------------------------------------------


def _minutes(setting: str) -> dt.timedelta:
    return dt.timedelta(minutes=current_app.extensions["labvault"].settings[setting])


def source_infos(session: Session) -> list[dict[str, Any]]:
    """Every source with the state of its listing."""
    now = utcnow()
    infos = []
    for name, source in sources().items():
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
    session: Session, name: str, path: str, refresh: bool, page: PageRequest
) -> dict[str, Any]:
    """A page of the entries of a folder, from a listing recent enough."""
    source = get_source(name)
    folder = served_path(name, source, path)
    fresh = listing.fresh_listing(
        session,
        name,
        source,
        max_age=_minutes("REMOTE_CACHE_MAX_AGE"),
        min_age=_minutes("REMOTE_CACHE_MIN_AGE"),
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
