"""The import engine: an importer's records upserted as starting materials.

Records are matched to items by (importer instance, external id), through
``inventory_links``: a new record creates an item; a known one updates only the fields
that differ (a version ``import``), keeping its refcode and item_id; an unchanged one is
not touched. Items whose record is missing from the export are reported, never deleted
(``mark_missing`` sets their status). The whole import is one transaction, so a failure
writes nothing; a dry run does everything the real one does and rolls it back, so its
report is exactly the real one's.

Records are handled in batches: after each, the versions noted are written and the
session forgets the items, and the external ids seen go to a temporary table (which tells
duplicates and, at the end, what is missing), so memory holds a batch, not the file.
"""

from __future__ import annotations

import gc
import posixpath
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labvault import search
from labvault.audit.service import record
from labvault.auth.models import User
from labvault.db import begin_write
from labvault.errors import Invalid, ProcessingError
from labvault.inventory.models import InventoryImport, InventoryLink
from labvault.inventory.records import KIND, UNCHANGED, differences, stored_already, validated
from labvault.items import bulk, types
from labvault.items import service as items
from labvault.items.history import changed
from labvault.items.models import Item
from labvault.plugin import InventoryImporter, InventoryRecord, RowProblem
from labvault.versions.service import record_created, record_noted_changes

#: Records handled (and versions written) per batch.
BATCH = 500
#: Rejected rows, warnings and missing items listed in a report (all are counted).
LISTED = 1000


#: The external ids of this import, with their rows: a temporary table, private to the
#: connection and gone with it, so it holds no memory of the app's and writes nothing
#: that stays.
SEEN = sa.Table(
    "inventory_seen",
    sa.MetaData(),
    sa.Column("external_id", sa.String(200), primary_key=True),
    sa.Column("row", sa.Integer, nullable=False),
    prefixes=["TEMPORARY"],
    mysql_charset="utf8mb4",
)


def _drop_seen(session: Session) -> None:
    temporary = "TEMPORARY " if session.get_bind().dialect.name in ("mysql", "mariadb") else ""
    session.execute(sa.text(f"DROP {temporary}TABLE IF EXISTS inventory_seen"))


class Report:
    """What an import did (or, dry, would do)."""

    def __init__(self, importer: str, filename: str, dry_run: bool) -> None:
        self.importer, self.filename, self.dry_run = importer, filename, dry_run
        self.counts = {"created": 0, "updated": 0, "unchanged": 0, "missing": 0, "rejected": 0}
        self.rejected: list[dict[str, Any]] = []
        self.warnings: list[dict[str, Any]] = []
        self.missing: list[str] = []

    def reject(self, problem: RowProblem) -> None:
        self.counts["rejected"] += 1
        if len(self.rejected) < LISTED:
            self.rejected.append(
                {"row": problem.row, "column": problem.column, "reason": problem.reason}
            )

    def warn(self, row: int, warning: str) -> None:
        if len(self.warnings) < LISTED:
            self.warnings.append({"row": row, "warning": warning})

    def as_dict(self) -> dict[str, Any]:
        return {
            "importer": self.importer,
            "filename": self.filename,
            "dry_run": self.dry_run,
            "counts": dict(self.counts),
            "rejected": self.rejected,
            "warnings": self.warnings,
            "missing": self.missing,
        }


class Engine:
    """One import: feed it records with :meth:`add`, then :meth:`finish` it."""

    def __init__(
        self,
        session: Session,
        user: User,
        importer: str,
        report: Report,
        *,
        prefix: str,
        mark_missing: str | None,
        index_items: Callable[[list[int]], None],
    ) -> None:
        statuses = types.current().writable_info(KIND).type.statuses
        if mark_missing is not None and mark_missing not in statuses:
            known = ", ".join(statuses)
            raise Invalid(
                f"--mark-missing {mark_missing!r} is no status of starting materials ({known})",
                {"mark_missing": [f"one of {known}"]},
            )
        self.session, self.user, self.importer = session, user, importer
        self.report, self.prefix, self.mark_missing = report, prefix, mark_missing
        #: Adds the items of these ids, just inserted, to the search index
        #: (:func:`labvault.search.indexed_by_batch`).
        self.index_items = index_items
        #: The entries taken since the last batch (at most BATCH: rows the importer
        #: rejected count too, so a file of nothing else is held a batch at a time).
        self.entries: list[InventoryRecord | RowProblem] = []
        #: The batch: (external id, row, its fields or None when rejected, the stored
        #: columns of its item if it has one)
        self.batch: list[tuple[str, int, dict[str, Any] | None, Any]] = []
        _drop_seen(session)  # one a failed import on this connection may have left
        SEEN.create(session.connection())

    def add(self, entry: InventoryRecord | RowProblem) -> None:
        """Take the importer's next entry; it is checked and written with its batch."""
        if not isinstance(entry, InventoryRecord | RowProblem):
            raise ProcessingError(f"the importer {self.importer} gave {entry!r}, not a record")
        self.entries.append(entry)
        if len(self.entries) >= BATCH:
            self._write_batch()

    def _check_entries(self) -> None:
        """Report the problems of the entries taken, in their order, and batch their
        records: their fields, or None when rejected.

        A record whose fields and attributes are exactly what its item has already is
        not validated again (it was, when they were stored; an unchanged re-import of
        100,000 rows would spend most of its time validating): it is batched as
        ``UNCHANGED``.
        """
        ids = [str(e.external_id).strip() for e in self.entries if isinstance(e, InventoryRecord)]
        stored = self._stored_of([external_id for external_id in ids if external_id])
        for entry in self.entries:
            if isinstance(entry, RowProblem):
                self.report.reject(entry)
                continue
            external_id = str(entry.external_id).strip()
            if not external_id or len(external_id) > 200:
                problem = RowProblem(entry.row, None, "no usable id (1 to 200 characters)")
                self.report.reject(problem)
                continue
            known = stored.get(external_id)
            data: dict[str, Any] | None
            if known is not None and stored_already(known, entry):
                data = UNCHANGED
            else:
                data, problems = validated(entry)
                for problem in problems:
                    self.report.reject(problem)
            if data is not None:
                for warning in entry.warnings:
                    self.report.warn(entry.row, warning)
            # a rejected record is seen all the same: it is in the export, so not missing
            self.batch.append((external_id, entry.row, data, known))
        self.entries = []

    def _first_of_each(self) -> list[tuple[str, dict[str, Any], Any]]:
        """The batch's records whose id no earlier row had (the others are rejected), noted
        as seen."""
        ids = [external_id for external_id, _, _, _ in self.batch]
        earlier = dict(
            self.session.execute(
                sa.select(SEEN.c.external_id, SEEN.c.row).where(SEEN.c.external_id.in_(ids))
            ).all()
        )
        fresh: dict[str, int] = {}
        kept = []
        for external_id, row, data, known in self.batch:
            first = earlier.get(external_id, fresh.get(external_id))
            if first is not None:
                self.report.reject(RowProblem(row, None, f"{external_id} is on row {first}"))
                continue
            fresh[external_id] = row
            if data is not None:
                kept.append((external_id, data, known))
        if fresh:
            self.session.execute(
                sa.insert(SEEN), [{"external_id": e, "row": r} for e, r in fresh.items()]
            )
        return kept

    def _write_batch(self) -> None:
        """Create, compare and update the batch's items: a few statements for the batch,
        whatever its size, and an ORM object only for an item that changes."""
        self._check_entries()
        if not self.batch:
            return
        counts = self.report.counts
        created: list[tuple[str, dict[str, Any]]] = []
        changes_of: dict[int, dict[str, Any]] = {}
        for external_id, data, known in self._first_of_each():
            if known is None:
                created.append((external_id, data))
                continue
            changes = {} if data is UNCHANGED else differences(known, data)
            if changes:
                changes_of[known.id] = changes
            else:
                counts["unchanged"] += 1
        self._update(changes_of)
        self._create(created)
        self._settle()

    def _stored_of(self, external_ids: list[str]) -> dict[str, Any]:
        """The items of these records that earlier imports made: the columns
        :func:`differences` compares, as plain rows, by external id."""
        if not external_ids:
            return {}
        query = (
            sa.select(
                InventoryLink.external_id,
                Item.id,
                Item.name,
                Item.description,
                Item.date,
                Item.fields,
            )
            .join(Item, Item.id == InventoryLink.item_id)
            .where(
                InventoryLink.importer == self.importer,
                InventoryLink.external_id.in_(external_ids),
            )
        )
        return {row.external_id: row for row in self.session.execute(query)}

    def _update(self, changes_of: dict[int, dict[str, Any]]) -> None:
        """Apply the changes found to their items, each noted for a version ``import``."""
        if not changes_of:
            return
        query = sa.select(Item).where(Item.id.in_(changes_of)).order_by(Item.id)
        for item in self.session.scalars(query):
            items.apply_changes(self.session, self.user, item, changes_of[item.id])
            changed(self.session, item, "import", self.user.id)
            self.report.counts["updated"] += 1

    def _create(self, created: list[tuple[str, dict[str, Any]]]) -> None:
        """Add the new records' items, their links and first versions, in bulk."""
        if not created:
            return
        session = self.session
        refcodes = items.free_refcodes(session, self.prefix, len(created))
        bodies = [{"type": KIND, **data} for _, data in created]
        rows = bulk.add_items(session, self.user, bodies, refcodes)
        self.index_items([row["id"] for row in rows])
        session.execute(
            sa.insert(cast(sa.Table, InventoryLink.__table__)),
            [
                {"importer": self.importer, "external_id": external_id, "item_id": row["id"]}
                for (external_id, _), row in zip(created, rows, strict=True)
            ],
        )
        record_created(session, self.user, rows)
        self.report.counts["created"] += len(rows)

    def _settle(self) -> None:
        """Write the batch's versions and let its rows go (the user stays loaded)."""
        record_noted_changes(self.session)
        self.session.flush()
        for row in list(self.session.identity_map.values()):
            if row is not self.user:
                self.session.expunge(row)
        self.batch = []

    def finish(self) -> None:
        """Write the last batch and handle the items the export no longer has."""
        self._write_batch()
        missing = (
            sa.select(Item.id)
            .join(InventoryLink, InventoryLink.item_id == Item.id)
            .outerjoin(SEEN, SEEN.c.external_id == InventoryLink.external_id)
            .where(
                InventoryLink.importer == self.importer,
                Item.deleted_at.is_(None),
                SEEN.c.external_id.is_(None),
            )
        )
        counted = sa.select(sa.func.count()).select_from(missing.subquery())
        self.report.counts["missing"] = int(self.session.scalar(counted) or 0)
        listed = missing.with_only_columns(Item.refcode).order_by(Item.id).limit(LISTED)
        self.report.missing = list(self.session.scalars(listed))
        if self.mark_missing is not None:
            status = self.mark_missing
            self._mark(missing.where(Item.status != status).order_by(Item.id), status)
        _drop_seen(self.session)

    def _mark(self, to_mark: sa.Select[Any], status: str) -> None:
        """Give the missing items ``status``, a batch at a time."""
        while ids := list(self.session.scalars(to_mark.limit(BATCH))):
            for item in self.session.scalars(sa.select(Item).where(Item.id.in_(ids))):
                item.status = status
                changed(self.session, item, "import_missing", self.user.id)
            self._settle()


@contextmanager
def _collections_skip_older_objects() -> Iterator[None]:
    """Let the garbage collector's full collections skip the objects that exist when an
    import starts (the app's: modules, schemas, mappers), which every one of them read
    again: 28 of them took 2.5 s of a 100,000 row import, 0.2 s with the objects frozen.
    Nothing is kept longer than the import; where something froze objects already (a
    server, at its start), it is left as it is."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def run_import(
    session: Session,
    user: User,
    name: str,
    importer: InventoryImporter,
    stream: BinaryIO,
    filename: str,
    *,
    prefix: str,
    max_rows: int,
    dry_run: bool = False,
    mark_missing: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Import an export file with the importer instance ``name``: one transaction,
    committed unless ``dry_run``. Returns the report. A file of more than ``max_rows``
    rows is refused (nothing is written)."""
    extension = posixpath.splitext(filename.lower())[1]
    accepted = importer.accepted_file_extensions
    if accepted and extension not in accepted:
        raise Invalid(
            f"{name} reads {', '.join(accepted)} files, not {filename!r}",
            {"file": [f"expected {', '.join(accepted)}"]},
            location="files",
        )
    report = Report(name, filename, dry_run)
    begin_write(session)
    try:
        with (
            _collections_skip_older_objects(),
            search.indexed_by_batch(session.connection()) as index_items,
        ):
            engine = Engine(
                session,
                user,
                name,
                report,
                prefix=prefix,
                mark_missing=mark_missing,
                index_items=index_items,
            )
            for count, entry in enumerate(importer.read(stream, filename), start=1):
                if count > max_rows:
                    raise Invalid(
                        f"{filename} has more than {max_rows} rows, the most one import "
                        "takes (INVENTORY_MAX_ROWS); nothing was imported",
                        {"file": [f"more than {max_rows} rows"]},
                        location="files",
                    )
                engine.add(entry)
                if progress is not None and count % 100 == 0:
                    progress(count)
            engine.finish()
        if dry_run:
            session.rollback()
        else:
            run = InventoryImport(
                importer=name, filename=filename[:255], user_id=user.id, report=report.as_dict()
            )
            session.add(run)
            session.flush()
            details = {"import_id": run.id, "filename": run.filename, "counts": dict(report.counts)}
            record(session, "inventory.imported", f"importer {name}", actor=user, details=details)
            session.commit()
    except BaseException:
        session.rollback()
        raise
    return report.as_dict()
