"""Files of items: upload into the content-addressed store, link, unlink, collect garbage.

Content is on disk (fsynced, under its final name) before the row that points to it is
written, so a row never points at missing content; if the transaction then fails, the
content is merely unreferenced until ``labvault files gc`` collects it.

Who may read a file: whoever may read an item it is attached to or an item one of
whose versions lists it (so unlinking never hides a file from the item's history).
Files of an item in the trash are readable only by those who may restore the item.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from flask import current_app, url_for
from flask_smorest import abort
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage

from labvault.blocks.models import Block
from labvault.db import begin_write, utcnow
from labvault.files.download import guess_media_type, safe_filename
from labvault.files.models import StoredFile, item_files
from labvault.files.storage import FileStore, GcReport
from labvault.items import access
from labvault.items import service as items
from labvault.items.models import Item, ItemVersion
from labvault.users.models import User

#: How much of the content the media type is guessed from (magic bytes).
HEAD_BYTES = 512
_DELETE_BATCH = 500


def store() -> FileStore:
    return FileStore(Path(current_app.extensions["labvault"].settings["FILE_DIRECTORY"]))


def content_path(sha256: str) -> Path:
    return store().path_for(sha256)


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
    """The file if ``user`` may read it, else 404 (whether or not it exists)."""
    stored = session.get(StoredFile, file_id)
    if stored is None or not _may_read(session, user, file_id):
        abort(404, message=f"no file {file_id}")
    assert stored is not None
    return stored


def files_query(item: Item) -> sa.Select[Any]:
    """The files attached to ``item``, oldest first."""
    return (
        sa.select(StoredFile)
        .join(item_files, item_files.c.file_id == StoredFile.id)
        .where(item_files.c.item_id == item.id)
        .order_by(StoredFile.id)
    )


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


def files_to_dicts(
    session: Session, user: User, stored_files: Iterable[StoredFile]
) -> list[dict[str, Any]]:
    """Files as the API shows them, with the items (that ``user`` may read) they belong to."""
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
            "created_by": items.user_ref(f.created_by),
            "created_at": f.created_at,
            "items": linked[f.id],
            "content_url": url_for("files.file_content", file_id=f.id),
        }
        for f in stored_files
    ]


# --- writing ---------------------------------------------------------------------------


def attach_upload(session: Session, user: User, refcode: str, upload: FileStorage) -> StoredFile:
    """Store an uploaded file, attach it to the item and keep a version; 404/403/422.

    The upload is usually already in the store's ``tmp/`` (see ``files.uploads``) and is
    only renamed into place; any other stream is copied there first.
    """
    item = items.get_item(session, user, refcode)
    if not access.check(session, user, item, access.writable(user)):
        abort(403, message=f"you may read {refcode} but not change it")
    file_store = store()
    stream: IO[bytes] = upload.stream
    settings = current_app.extensions["labvault"].settings
    if file_store.owns(stream):
        temp = stream
    else:
        temp = file_store.write_temp(stream, max_size=settings["MAX_CONTENT_LENGTH"])
    try:
        if temp.size == 0:
            abort(
                422,
                errors={"files": {"file": ["empty file"]}},
                message="empty file: there is nothing to store",
            )
        # on disk, under its digest, before the row that points to it; outside the
        # write transaction, so a long fsync does not hold up other writers
        content = file_store.keep(temp)
    except BaseException:
        temp.discard()
        raise
    with file_store.open(content.sha256) as stored_content:
        head = stored_content.read(HEAD_BYTES)
    name = safe_filename(upload.filename or "")

    item = items.get_item(session, user, refcode, write=True)
    stored = StoredFile(
        sha256=content.sha256,
        size=content.size,
        name=name,
        media_type=guess_media_type(name, head),
        origin="upload",
        created_by_id=user.id,
    )
    session.add(stored)
    session.flush()
    session.execute(sa.insert(item_files).values(item_id=item.id, file_id=stored.id))
    items.record_version(session, item, "file_add", user)
    session.commit()
    return stored


def detach(session: Session, user: User, item: Item, file_id: int) -> None:
    """Unlink a file from an item loaded with ``write=True``; 404 if not attached.

    A block of the item that uses the file must be changed first (409): the block's
    results were computed from it. The content stays while a version lists the file.
    """
    linked = session.scalar(
        sa.select(item_files.c.file_id).where(
            item_files.c.item_id == item.id, item_files.c.file_id == file_id
        )
    )
    if linked is None:
        abort(404, message=f"{item.refcode} has no file {file_id}")
    users = [b for b in items.blocks_of(session, item) if file_id in (b.file_ids or ())]
    if users:
        names = ", ".join(f"{b.id} ({b.title!r})" if b.title else str(b.id) for b in users)
        abort(
            409,
            message=f"file {file_id} is used by block {names} of {item.refcode}: "
            "remove it from the block first",
        )
    session.execute(
        sa.delete(item_files).where(
            item_files.c.item_id == item.id, item_files.c.file_id == file_id
        )
    )
    items.record_version(session, item, "file_remove", user)
    session.commit()


# --- garbage collection ----------------------------------------------------------------


@dataclass
class RemovedFile:
    id: int
    name: str
    sha256: str
    size: int


@dataclass
class GarbageReport:
    """What :func:`collect_garbage` removed (or would remove, in a dry run)."""

    files: list[RemovedFile] = field(default_factory=list)
    content: GcReport = field(default_factory=GcReport)
    dry_run: bool = False


def _referenced_file_ids(session: Session) -> set[int]:
    """Files an item links, a block uses or a version lists.

    A version's blocks are not read: a block only uses files of its item (enforced when
    it is saved, and unlinking a file a block uses is refused), so each snapshot's
    ``file_ids`` already holds the files of its blocks.
    """
    referenced = set(session.scalars(sa.select(item_files.c.file_id).distinct()))
    for file_ids in session.scalars(sa.select(Block.file_ids)):
        referenced.update(file_ids or ())
    listed = sa.select(ItemVersion.snapshot["file_ids"]).execution_options(yield_per=1000)
    for file_ids in session.scalars(listed):
        referenced.update(file_ids or ())
    return referenced


def collect_garbage(
    session: Session, *, grace_seconds: float, dry_run: bool = False
) -> GarbageReport:
    """Delete file rows nothing refers to, then content no row refers to.

    Rows and content younger than ``grace_seconds`` are kept: an upload that is not
    committed yet must not lose its content. Nothing can come to refer to a row nothing
    refers to (a file is only ever attached by its upload, or again by restoring a
    version that lists it), so the references are read without holding up writers.
    """
    report = GarbageReport(dry_run=dry_run)
    cutoff = utcnow() - dt.timedelta(seconds=grace_seconds)
    # candidates first: a row committed after this read is not one
    candidates = set(
        session.scalars(sa.select(StoredFile.id).where(StoredFile.created_at <= cutoff))
    )
    orphans = sorted(candidates - _referenced_file_ids(session))
    begin_write(session)
    for start in range(0, len(orphans), _DELETE_BATCH):
        batch = sa.and_(
            StoredFile.id.in_(orphans[start : start + _DELETE_BATCH]),
            StoredFile.id.not_in(sa.select(item_files.c.file_id)),
        )
        rows = session.execute(
            sa.select(StoredFile.id, StoredFile.name, StoredFile.sha256, StoredFile.size)
            .where(batch)
            .order_by(StoredFile.id)
        )
        report.files += [RemovedFile(*row) for row in rows]
        if not dry_run:
            session.execute(sa.delete(StoredFile).where(batch))
    removed = {f.id for f in report.files}
    digests = {
        sha256
        for file_id, sha256 in session.execute(sa.select(StoredFile.id, StoredFile.sha256))
        if file_id not in removed
    }
    session.commit()
    report.content = store().collect_garbage(digests, dry_run=dry_run, grace_seconds=grace_seconds)
    return report
