"""Collecting files that no item, block or version refers to (``labvault files gc``).

It reads the items, blocks and versions that may refer to a file, so it sits above them
(beside :mod:`labvault.versions`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labvault.audit.service import Actor, record
from labvault.blocks.models import Block, BlockPlot
from labvault.db import begin_write, utcnow
from labvault.files.models import StoredFile, item_files
from labvault.files.storage import GcReport, collect_content
from labvault.items.models import ItemVersion
from labvault.plugin import FileStore

_DELETE_BATCH = 500
#: File ids an audit event of a collection lists (it counts them all).
_AUDITED_IDS = 100


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
    session: Session,
    store: FileStore,
    *,
    grace_seconds: float,
    dry_run: bool = False,
    actor: Actor | str | None = None,
    keep: AbstractSet[str] = frozenset(),
) -> GarbageReport:
    """Delete file rows nothing refers to, then content no row refers to, nor ``keep``
    names (by sha256: content kept for another reason, an export to download).

    Rows, and content of ``store``, younger than ``grace_seconds`` are kept: an upload
    that is not committed yet must not lose its content. Nothing can come to refer to a
    row nothing refers to (a file is only ever attached by its upload, or again by
    restoring a version that lists it), so the references are read without holding up
    writers.
    Removing rows is an audit event of ``actor``, committed with the removal.
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
    if removed and not dry_run:
        listed = [f.id for f in report.files[:_AUDITED_IDS]]
        details = {"count": len(removed), "file_ids": listed}
        record(session, "file.purged", "unreferenced files", actor=actor, details=details)
    digests = {
        sha256
        for file_id, sha256 in session.execute(sa.select(StoredFile.id, StoredFile.sha256))
        if file_id not in removed
    }
    # blocks' rendered plots (a plot whose content is collected anyway is drawn again)
    digests.update(
        session.scalars(sa.select(BlockPlot.png_sha256).where(BlockPlot.png_sha256.is_not(None)))
    )
    digests.update(keep)
    session.commit()
    report.content = collect_content(store, digests, dry_run=dry_run, grace_seconds=grace_seconds)
    return report
