"""Inventory imports for the API and the CLI: the importers there are, running one,
and the imports that were run."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labvault.auth.models import User
from labvault.errors import NotFound
from labvault.inventory.engine import run_import
from labvault.inventory.models import InventoryImport
from labvault.items.service import user_ref
from labvault.paging import PageRequest, page_rows
from labvault.plugin import InventoryImporter
from labvault.registry import INVENTORY_IMPORTERS, Registry


@dataclass(frozen=True)
class Importers:
    """The inventory importers of a server (``INVENTORY_IMPORTERS``) and what the items
    they make are numbered with."""

    instances: Mapping[str, InventoryImporter]
    #: IDENTIFIER_PREFIX, of the refcodes of new items.
    identifier_prefix: str
    #: INVENTORY_MAX_ROWS: a larger export is refused whole.
    max_rows: int

    @classmethod
    def configured(cls, settings: Mapping[str, Any], registry: Registry) -> Importers:
        return cls(
            registry.instances_of(INVENTORY_IMPORTERS),
            settings["IDENTIFIER_PREFIX"],
            settings["INVENTORY_MAX_ROWS"],
        )

    def get(self, name: str) -> InventoryImporter:
        importer = self.instances.get(name)
        if importer is None:
            raise NotFound(f"no inventory importer {name!r}")
        return importer


def importer_infos(importers: Importers) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "type": importer.name,
            "description": importer.options.get("description") or importer.description,
            "accepted_file_extensions": list(importer.accepted_file_extensions),
        }
        for name, importer in importers.instances.items()
    ]


def import_file(
    session: Session,
    importers: Importers,
    user: User,
    name: str,
    stream: BinaryIO,
    filename: str,
    *,
    dry_run: bool,
    mark_missing: str | None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    return run_import(
        session,
        user,
        name,
        importers.get(name),
        stream,
        filename,
        prefix=importers.identifier_prefix,
        max_rows=importers.max_rows,
        dry_run=dry_run,
        mark_missing=mark_missing,
        progress=progress,
    )


def imports_page(session: Session, page: PageRequest) -> list[dict[str, Any]]:
    """The imports that were run, newest first."""
    query = sa.select(InventoryImport).order_by(InventoryImport.id.desc())
    return [
        {
            "id": run.id,
            "importer": run.importer,
            "filename": run.filename,
            "user": user_ref(run.user),
            "created_at": run.created_at,
            "report": run.report,
        }
        for run in page_rows(session, query, page)
    ]
