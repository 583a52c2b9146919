"""Every table of the core, imported together so the metadata is complete."""

from labvault.audit.models import AuditEvent
from labvault.auth.models import (
    ApiKey,
    LinkedIdentity,
    RateLimit,
    RefreshToken,
    RevokedSession,
    SignInTicket,
    User,
)
from labvault.backups.models import BackupState, Installation
from labvault.blocks.models import Block
from labvault.collections.models import Collection, CollectionShare, collection_items
from labvault.db import Base
from labvault.files.models import StoredFile, item_files
from labvault.interchange.models import ImportedRecord
from labvault.inventory.models import InventoryImport, InventoryLink
from labvault.items.models import Item, ItemRelationship, ItemVersion, item_creators
from labvault.jobs.models import JobRecord
from labvault.search import add_to_metadata
from labvault.sources.models import SourceEntry, SourceState

metadata = Base.metadata
# the full-text search objects of each database, made and dropped with the items table
add_to_metadata(Item.__table__)

__all__ = [
    "ApiKey",
    "AuditEvent",
    "BackupState",
    "Base",
    "Block",
    "Collection",
    "CollectionShare",
    "ImportedRecord",
    "Installation",
    "InventoryImport",
    "InventoryLink",
    "Item",
    "ItemRelationship",
    "ItemVersion",
    "JobRecord",
    "LinkedIdentity",
    "RateLimit",
    "RefreshToken",
    "RevokedSession",
    "SignInTicket",
    "SourceEntry",
    "SourceState",
    "StoredFile",
    "User",
    "collection_items",
    "item_creators",
    "item_files",
    "metadata",
]
