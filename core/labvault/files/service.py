"""Files of items: upload into the content-addressed store, list, download, link, unlink.

Content is on disk (fsynced, under its final name) before the row that points to it is
written, so a row never points at missing content; if the transaction then fails, the
content is merely unreferenced until ``labvault files gc`` collects it
(:mod:`labvault.files_gc`).

Who may read a file: whoever may read an item it is attached to or an item one of
whose versions lists it (so unlinking never hides a file from the item's history).
Files of an item in the trash are readable only by those who may restore the item.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labvault.auth.models import User
from labvault.errors import Forbidden, Invalid, NotFound
from labvault.files.models import StoredFile, item_files
from labvault.files.names import guess_media_type, safe_filename
from labvault.items import access
from labvault.items import service as items
from labvault.items.history import changed
from labvault.items.models import Item, ItemVersion
from labvault.paging import PageRequest, page_rows
from labvault.plugin import FileStore, StoredContent

#: How much of the content the media type is guessed from (magic bytes).
HEAD_BYTES = 512
#: Builds the URL of a file's content from its id (the web layer's ``url_for``).
ContentUrl = Callable[[int], str]


# --- reading ---------------------------------------------------------------------------
def _files_readable(user: User) -> sa.ColumnElement[bool]:
    """Items whose files ``user`` may read (trashed ones: only if they may restore them)."""
    return sa.and_(access.readable(user), sa.or_(Item.deleted_at.is_(None), access.writable(user)))


def _version_lists_file(session: Session, file_id: int) -> sa.ColumnElement[bool]:
    """An item version's snapshot lists ``file_id`` in its ``file_ids`` (in SQL)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        # imported here: the dialect package imports every PostgreSQL driver (25 ms)
        from sqlalchemy.dialects.postgresql import JSONB

        return sa.cast(ItemVersion.snapshot, JSONB)["file_ids"].contains([file_id])
    if dialect in ("mysql", "mariadb"):
        return sa.func.json_contains(ItemVersion.snapshot, json.dumps(file_id), "$.file_ids") == 1
    listed = sa.func.json_each(ItemVersion.snapshot, "$.file_ids").table_valued("value")
    return sa.exists(sa.select(1).select_from(listed).where(listed.c.value == file_id))


def _may_read(session: Session, user: User, file_id: int) -> bool:
    linked = (
        sa.select(Item.id)
        .join(item_files, item_files.c.item_id == Item.id)
        .where(item_files.c.file_id == file_id, _files_readable(user))
    )
    if session.scalar(linked.limit(1)) is not None:
        return True
    # only when not attached: this reads the snapshots of versions
    listed = (
        sa.select(ItemVersion.id)
        .join(Item, Item.id == ItemVersion.item_id)
        .where(_version_lists_file(session, file_id), _files_readable(user))
    )
    return session.scalar(listed.limit(1)) is not None


def get_readable_file(session: Session, user: User, file_id: int) -> StoredFile:
    """The file if ``user`` may read it, else NotFound (whether or not it exists)."""
    stored = session.get(StoredFile, file_id)
    if stored is None or not _may_read(session, user, file_id):
        raise NotFound(f"no file {file_id}")
    return stored


def item_files_page(
    session: Session, user: User, item: Item, page: PageRequest, content_url: ContentUrl
) -> list[dict[str, Any]]:
    """A page of the files attached to ``item``, oldest first."""
    query = (
        sa.select(StoredFile)
        .join(item_files, item_files.c.file_id == StoredFile.id)
        .where(item_files.c.item_id == item.id)
        .order_by(StoredFile.id)
    )
    return files_to_dicts(session, user, page_rows(session, query, page), content_url)


def _linked_refcodes(session: Session, user: User, file_ids: list[int]) -> dict[int, list[str]]:
    rows = session.execute(
        sa.select(item_files.c.file_id, Item.refcode)
        .join(Item, Item.id == item_files.c.item_id)
        .where(item_files.c.file_id.in_(file_ids), _files_readable(user))
        .order_by(Item.refcode)
    )
    linked: dict[int, list[str]] = {i: [] for i in file_ids}
    for file_id, refcode in rows:
        linked[file_id].append(refcode)
    return linked


def _original(stored: StoredFile) -> dict[str, Any] | None:
    """Where a copy from a file source came from; None for an upload (or a copy that a
    newer one replaced: it is history)."""
    if stored.source is None:
        return None
    modified = stored.remote_modified
    return {
        "source": stored.source,
        "path": stored.source_path,
        "size": stored.remote_size,
        "modified": dt.datetime.fromtimestamp(modified, dt.UTC) if modified is not None else None,
        "checked_at": stored.checked_at,
    }


def files_to_dicts(
    session: Session, user: User, stored_files: Iterable[StoredFile], content_url: ContentUrl
) -> list[dict[str, Any]]:
    """Files as the API shows them, with the items (that ``user`` may read) they belong to
    and where their content is (``content_url``)."""
    stored_files = list(stored_files)
    linked = _linked_refcodes(session, user, [f.id for f in stored_files])
    return [
        {
            "id": f.id,
            "name": f.name,
            "size": f.size,
            "sha256": f.sha256,
            "media_type": f.media_type,
            "origin": f.origin,
            "original": _original(f),
            "created_by": items.user_ref(f.created_by),
            "created_at": f.created_at,
            "items": linked[f.id],
            "content_url": content_url(f.id),
        }
        for f in stored_files
    ]


# --- writing ---------------------------------------------------------------------------


def writable_item(session: Session, user: User, refcode: str) -> Item:
    """The item, if ``user`` may change it (404 when unreadable, 403 when read-only)."""
    item = items.get_item(session, user, refcode)
    if not access.check(session, user, item, access.writable(user)):
        raise Forbidden(f"you may read {refcode} but not change it")
    return item


def keep_content(store: FileStore, stream: IO[bytes], *, max_size: int) -> StoredContent:
    """Keep a stream's content in the store (at most ``max_size`` bytes, not empty).

    A stream that is already a temp file of the store (an upload, see
    :mod:`labvault.web.uploads`) is only renamed into place; any other is copied there
    first. Nothing is left behind when it fails.
    """
    temp = stream if store.owns(stream) else store.write(stream, max_size=max_size)
    try:
        if temp.size == 0:
            raise Invalid(
                "empty file: there is nothing to store", {"file": ["empty file"]}, location="files"
            )
        # on disk, under its digest, before the row that points to it; outside the
        # write transaction, so a long fsync does not hold up other writers
        return store.keep(temp)
    except BaseException:
        temp.discard()
        raise


def new_file_row(store: FileStore, content: StoredContent, name: str, **origin: Any) -> StoredFile:
    """The row of a stored content, named ``name`` (``origin``: where it came from)."""
    with store.open(content.sha256) as stored_content:
        head = stored_content.read(HEAD_BYTES)
    name = safe_filename(name)
    return StoredFile(
        sha256=content.sha256,
        size=content.size,
        name=name,
        media_type=guess_media_type(name, head),
        **origin,
    )


def attach(session: Session, user: User, item: Item, stored: StoredFile) -> StoredFile:
    """Add a new file row to an item ``user`` may change, read before the content was
    stored (:func:`writable_item`); its write starts here, and it keeps a version.
    Commits."""
    items.lock_for_change(session, user, item)
    session.add(stored)
    session.flush()
    session.execute(sa.insert(item_files).values(item_id=item.id, file_id=stored.id))
    changed(session, item, "file_add", user.id)
    session.commit()
    return stored


def attach_upload(
    session: Session,
    store: FileStore,
    user: User,
    refcode: str,
    stream: IO[bytes],
    name: str,
    *,
    max_size: int,
) -> StoredFile:
    """Store an uploaded file, attach it to the item and keep a version; 404/403/422.

    The item is read once, before the content is stored: someone who may not change it
    stores nothing.
    """
    item = writable_item(session, user, refcode)
    content = keep_content(store, stream, max_size=max_size)
    stored = new_file_row(store, content, name, origin="upload", created_by_id=user.id)
    return attach(session, user, item, stored)


def require_attached(session: Session, item: Item, file_id: int) -> None:
    """NotFound unless the file is attached to the item."""
    linked = session.scalar(
        sa.select(item_files.c.file_id).where(
            item_files.c.item_id == item.id, item_files.c.file_id == file_id
        )
    )
    if linked is None:
        raise NotFound(f"{item.refcode} has no file {file_id}")


def unlink(session: Session, user: User, item: Item, file_id: int) -> None:
    """Detach a file from an item loaded with ``write=True``, keeping a version. The
    content stays while a version lists the file.

    The caller has checked that no block of the item uses the file (see
    :func:`labvault.blocks.service.detach_file`).
    """
    session.execute(
        sa.delete(item_files).where(
            item_files.c.item_id == item.id, item_files.c.file_id == file_id
        )
    )
    changed(session, item, "file_remove", user.id)
    session.commit()


def set_item_files(session: Session, item: Item, file_ids: list[int]) -> None:
    """Make the item's files those of ``file_ids`` that still exist (restoring a version)."""
    present = set(session.scalars(sa.select(StoredFile.id).where(StoredFile.id.in_(file_ids))))
    session.execute(sa.delete(item_files).where(item_files.c.item_id == item.id))
    if present:
        session.execute(
            sa.insert(item_files), [{"item_id": item.id, "file_id": f} for f in sorted(present)]
        )
