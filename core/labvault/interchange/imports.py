"""Archives of other lab systems (and labvault's own exports) imported as items.

An interchange format reads the archive (:meth:`labvault.plugin.InterchangeFormat.read`)
into records; the core does the rest, the same for every format:

1. The archive is checked before the format sees it (:mod:`labvault.interchange.archive`).
2. Each record is planned: the item made from it before, if the archive (the format,
   the exporter and the record's key) was imported already; else its item type (the
   format's, or :data:`DEFAULT_TYPE` where it could not tell or the type is not
   enabled), its fields as the type takes them (the rest kept as metadata), its
   creators (the authors matched to accounts the importing user may see, by a
   researcher id of a linked identity or an email address, which is always verified).
3. Every file is streamed from the archive into the file store's temp folder and hashed
   on the way; its sha256 and size must be what the archive says. A missing or
   damaged file, or one that is not what the archive says, refuses the whole import
   (422 with every problem): nothing is written. A dry run stops here and reports.
4. The files are moved into place (as an upload's are: content no row refers to, should
   the import fail from here, is garbage collected), then one transaction makes the
   items, their files, blocks and links, the metadata that could not be mapped (a JSON
   file on the item), and remembers each record.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any, cast

import marshmallow as ma
import sqlalchemy as sa
from sqlalchemy.orm import Session

from labvault.audit.service import record
from labvault.auth.models import LinkedIdentity, User
from labvault.blocks import service as blocks
from labvault.blocks.service import BlockTypes
from labvault.collections import service as collections
from labvault.collections.models import Collection, collection_items
from labvault.db import begin_write, utcnow
from labvault.emails import InvalidEmail, normalize_email
from labvault.errors import Forbidden, Invalid, LabvaultError, NotFound
from labvault.files.models import StoredFile, item_files
from labvault.files.names import guess_media_type, safe_filename
from labvault.interchange.archive import Archive, open_archive
from labvault.interchange.exports import Configured
from labvault.interchange.models import ImportedRecord as RememberedRecord
from labvault.items import access, bulk, links, types
from labvault.items.models import Item, ItemRelationship, Relation, item_creators
from labvault.items.schemas import validate_item_input
from labvault.items.service import free_refcodes, jsonable
from labvault.plugin import (
    AuthProvider,
    ContentWriter,
    FileStore,
    Imported,
    ImportedBlock,
    ImportedFile,
    ImportedPerson,
    ImportedRecord,
    InterchangeFormat,
)
from labvault.plugin._item_types import REFCODE_PATTERN
from labvault.registry import AUTH_PROVIDERS, BLOCK_TYPES, INTERCHANGE_FORMATS
from labvault.schemas import IDENTIFIER_PATTERN
from labvault.versions import service as versions

#: The item type of a record whose format could not tell one, or named one that is not
#: enabled (a type every labvault has: its fields are few and free).
DEFAULT_TYPE = "sample"
#: The file the metadata of a record that could not be mapped is attached as.
UNMAPPED_FILE = "imported-metadata.json"
_REFCODE = re.compile(REFCODE_PATTERN)
_RELATIONS = frozenset(relation.value for relation in Relation)
_RELATIONSHIPS = cast(sa.Table, ItemRelationship.__table__)
_REMEMBERED = cast(sa.Table, RememberedRecord.__table__)
_COLLECTION_ID = re.compile(IDENTIFIER_PATTERN)
_HEAD_BYTES = 512
_CHUNK = 1 << 20


@dataclass
class _Staged:
    """A file of the archive written to the store's temp folder, checked."""

    temp: ContentWriter | None
    sha256: str
    size: int
    media_type: str


@dataclass
class _Plan:
    """What becomes of one record."""

    record: ImportedRecord
    type: str
    data: dict[str, Any]
    metadata: dict[str, Any]
    creators: list[int]
    existing: Item | None = None
    #: The existing item is not the importing user's to read.
    hidden: bool = False
    refcode: str | None = None
    #: The new item's column values (made in bulk) and id.
    row: dict[str, Any] | None = None
    item_db_id: int = 0
    collections: list[str] = field(default_factory=list)
    #: The files checked (for the report), and the ids of those attached, by sha256.
    files: list[dict[str, Any]] = field(default_factory=list)
    file_ids: dict[str, int] = field(default_factory=dict)


def origin_of(format_name: str, exporter: str, key: str) -> str:
    """What a record is remembered by: its format, exporter and key, hashed."""
    return hashlib.sha256(f"{format_name}\n{exporter}\n{key}".encode()).hexdigest()


@dataclass
class Importer:
    """Imports archives for users: ``formats`` the enabled interchange formats,
    ``store`` the file store; ``prefix`` the refcode prefix of new items."""

    formats: Mapping[str, InterchangeFormat]
    block_types: BlockTypes
    providers: Mapping[str, AuthProvider]
    store: FileStore
    prefix: str
    max_unpacked_size: int
    max_parts: int
    max_file_size: int

    @classmethod
    def of(cls, state: Configured, store: FileStore) -> Importer:
        settings, registry = state.settings, state.registry
        return cls(
            formats=registry.instances_of(INTERCHANGE_FORMATS),
            block_types=registry.instances_of(BLOCK_TYPES),
            providers=registry.instances_of(AUTH_PROVIDERS),
            store=store,
            prefix=settings["IDENTIFIER_PREFIX"],
            max_unpacked_size=settings["IMPORT_MAX_UNPACKED_SIZE"],
            max_parts=settings["IMPORT_MAX_PARTS"],
            max_file_size=settings["MAX_CONTENT_LENGTH"],
        )

    def format_for(self, name: str | None, filename: str) -> InterchangeFormat:
        """The enabled format ``name`` that reads archives, or the one whose file
        extension ``filename`` has; Invalid naming those there are otherwise."""
        readers = {n: f for n, f in self.formats.items() if type(f).imports()}
        if name is None:
            by_extension = [
                f
                for f in readers.values()
                if f.file_extension and filename.lower().endswith(f.file_extension)
            ]
            if len(by_extension) == 1:
                return by_extension[0]
        elif name in readers:
            return readers[name]
        known = ", ".join(sorted(readers)) or "none"
        what = f"no format {name!r} reads archives" if name else f"no format reads {filename}"
        raise Invalid(f"{what} (enabled: {known})", {"format": [f"one of: {known}"]})

    def run(
        self,
        session: Session,
        user: User,
        stream: IO[bytes],
        filename: str,
        *,
        format_name: str | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Import the archive in ``stream`` (seekable) for ``user``: the report; with
        ``dry_run`` what would be done, and nothing written."""
        if not access.may_create(user):
            raise Forbidden("your account is not verified yet: you can only read")
        reader = self.format_for(format_name, filename)
        archive = open_archive(
            stream, filename, max_unpacked_size=self.max_unpacked_size, max_parts=self.max_parts
        )
        try:
            imported = _read(reader, archive)
            plans, notes, people = self._plan(session, user, reader.name, imported, archive)
            staged = self._stage(archive, plans, dry_run=dry_run)
            if not dry_run:
                try:
                    self._write(session, user, reader.name, imported, plans, staged, notes)
                finally:
                    _discard(staged)  # those not kept: a failed import's
        finally:
            archive.close()
        return _report(reader.name, filename, imported, plans, notes, people, dry_run)

    # --- planning ---------------------------------------------------------------------

    def _plan(
        self,
        session: Session,
        user: User,
        format_name: str,
        imported: Imported,
        archive: Archive,
    ) -> tuple[list[_Plan], list[str], list[dict[str, Any]]]:
        notes = list(imported.notes)
        keys = [r.key for r in imported.records]
        if len(set(keys)) != len(keys):
            raise Invalid(f"{archive.name}: two records have one key")
        exporter = imported.exporter[:500]
        origins = {origin_of(format_name, exporter, r.key): r.key for r in imported.records}
        existing: dict[str, Item] = {}
        for start in range(0, len(origins), 500):
            batch = list(origins)[start : start + 500]
            for origin, item in session.execute(
                sa.select(RememberedRecord.origin, Item)
                .join(Item, Item.id == RememberedRecord.item_id)
                .where(RememberedRecord.origin.in_(batch))
            ):
                existing[origins[origin]] = item
        # an item made by an earlier import that this user may not read is neither named
        # nor linked to (the report says only that the record was imported before)
        readable: set[int] = set()
        found_ids = [item.id for item in existing.values()]
        for start in range(0, len(found_ids), 500):
            query = sa.select(Item.id).where(
                Item.id.in_(found_ids[start : start + 500]), access.readable(user)
            )
            readable.update(session.scalars(query))
        matched = self._match_people(session, user, imported.people)
        people = [
            {"key": key, "name": person.name, "user_id": matched.get(key)}
            for key, person in imported.people.items()
        ]
        names = set(archive.names())
        catalogue = types.current()
        plans = []
        for each in imported.records:
            missing = [f.path for f in each.files if f.path not in names]
            if missing:
                raise Invalid(
                    f"{archive.name}: the record {each.key} names files the archive does not "
                    f"hold: {', '.join(missing)}",
                    {"files": [f"missing: {path}" for path in missing]},
                    location="files",
                )
            item_type = each.type if each.type and each.type in catalogue else DEFAULT_TYPE
            if each.type is not None and each.type != item_type:
                notes.append(f"{each.key}: type {each.type!r} is not enabled; made a {item_type}")
            data, metadata = _validated(item_type, each)
            creators = [user.id] + [
                matched[key] for key in each.creators if matched.get(key, user.id) != user.id
            ]
            unmatched = [
                imported.people[key].name
                for key in each.creators
                if key in imported.people and key not in matched
            ]
            if unmatched:
                metadata["authors"] = unmatched
            plans.append(
                _Plan(
                    each,
                    item_type,
                    data,
                    metadata,
                    list(dict.fromkeys(creators)),
                    existing=existing.get(each.key),
                    hidden=each.key in existing and existing[each.key].id not in readable,
                )
            )
        return plans, notes, people

    def _match_people(
        self, session: Session, user: User, people: Mapping[str, ImportedPerson]
    ) -> dict[str, int]:
        """The account of each person that has one the user may see: by a researcher id
        a linked identity gives (its provider's ``person_identifier``; the identities
        looked at are those whose subject is the id's last segment, as a researcher id's
        URL ends with it), else by email address (an account's is always verified)."""
        found: dict[str, int] = {}
        by_identifier: dict[str, str] = {}
        for key, person in people.items():
            for identifier in person.identifiers:
                by_identifier.setdefault(identifier.strip(), key)
        subjects = {identifier.rstrip("/").rsplit("/", 1)[-1] for identifier in by_identifier}
        for batch in _batches(sorted(subjects) if self.providers else []):
            for user_id, provider, subject in session.execute(
                sa.select(LinkedIdentity.user_id, LinkedIdentity.provider, LinkedIdentity.subject)
                .where(LinkedIdentity.subject.in_(batch))
                .order_by(LinkedIdentity.id)
            ):
                instance = self.providers.get(provider)
                known_as = instance.person_identifier(subject) if instance else None
                if known_as is not None and known_as in by_identifier:
                    found.setdefault(by_identifier[known_as], user_id)
        by_email: dict[str, str] = {}
        for key, person in people.items():
            for written in person.emails if key not in found else ():
                with contextlib.suppress(InvalidEmail):
                    by_email.setdefault(normalize_email(written), key)
        for batch in _batches(sorted(by_email)):
            for user_id, address in session.execute(
                sa.select(User.id, User.email).where(User.email.in_(batch))
            ):
                if address is not None:
                    found.setdefault(by_email[address], user_id)
        seen = access.seen_users(session, user, set(found.values()))
        return {key: user_id for key, user_id in found.items() if user_id in seen}

    # --- files --------------------------------------------------------------------------

    def _stage(self, archive: Archive, plans: list[_Plan], *, dry_run: bool) -> dict[str, _Staged]:
        """Every file of the records to make, by its path: checked, and (unless a dry
        run) in the store's temp folder. Invalid with every problem found."""
        staged: dict[str, _Staged] = {}
        problems: list[str] = []
        try:
            for plan in plans:
                if plan.existing is not None:
                    continue
                for wanted in plan.record.files:
                    if wanted.path not in staged:
                        found = self._stage_one(archive, wanted, dry_run, problems)
                        if found is not None:
                            staged[wanted.path] = found
                    checked = staged.get(wanted.path)
                    if checked is None:
                        continue
                    if wanted.sha256 not in (None, checked.sha256):
                        problems.append(
                            f"{wanted.path}: its sha256 is {checked.sha256}, not "
                            f"{wanted.sha256} as the archive says"
                        )
                    plan.files.append(
                        {"name": wanted.name, "sha256": checked.sha256, "size": checked.size}
                    )
        except BaseException:
            _discard(staged)
            raise
        if problems:
            _discard(staged)
            raise Invalid(
                f"{archive.name}: {len(problems)} files are not what the archive says; "
                f"nothing was imported: {problems[0]}",
                {"files": problems},
                location="files",
            )
        return staged

    def _stage_one(
        self, archive: Archive, wanted: ImportedFile, dry_run: bool, problems: list[str]
    ) -> _Staged | None:
        if archive.size(wanted.path) > self.max_file_size:
            problems.append(
                f"{wanted.path}: {archive.size(wanted.path)} bytes, more than a file may have "
                f"(MAX_CONTENT_LENGTH, {self.max_file_size})"
            )
            return None
        temp = None if dry_run else self.store.writer()
        hasher, size, head = hashlib.sha256(), 0, b""
        try:
            with _open_part(archive, wanted.path, problems) as entry:
                # what reading the archive raises is the archive's fault (a 422); what
                # writing into the store raises (a full disk) is not, and propagates
                while chunk := _read_part(entry, wanted.path, problems):
                    if not head:
                        head = chunk[:_HEAD_BYTES]
                    hasher.update(chunk)
                    size += len(chunk)
                    if temp is not None:
                        temp.write(chunk)
        except _Damaged:
            if temp is not None:
                temp.discard()
            return None
        except BaseException:
            if temp is not None:
                temp.discard()
            raise
        if wanted.size is not None and wanted.size != size:
            problems.append(f"{wanted.path}: {size} bytes, not {wanted.size} as the archive says")
        media_type = guess_media_type(wanted.name, head)
        return _Staged(temp, hasher.hexdigest(), size, media_type)

    # --- writing ------------------------------------------------------------------------

    def _write(
        self,
        session: Session,
        user: User,
        format_name: str,
        imported: Imported,
        plans: list[_Plan],
        staged: dict[str, _Staged],
        notes: list[str],
    ) -> None:
        # into place first (fsynced, outside the write transaction), as an upload's: the
        # blocks read them; should the import fail, content no row names is collected
        for each in staged.values():
            if each.temp is not None:
                self.store.keep(each.temp)
                each.temp = None
        begin_write(session)
        new = [plan for plan in plans if plan.existing is None]
        wished = self._refcodes(session, new)
        item_ids = self._item_ids(session, new, notes)
        made: set[str] = set()
        for plan in new:
            plan.collections = self._collections(session, user, plan, made, notes)
        # the items their fields name (their types derive links from those): here and
        # readable, or made by this import; else such a field is kept as metadata
        named = self._named_items(session, user, new, set(wished.values()), notes)
        rows = bulk.add_items(  # a few statements for them all
            session,
            user,
            [{"type": p.type, **p.data} for p in new],
            [wished[p.record.key] for p in new],
            columns=[
                {
                    "item_id": item_ids.get(p.record.key),
                    "created_at": p.record.created_at,
                    "updated_at": p.record.updated_at or p.record.created_at,
                }
                for p in new
            ],
            named_checked=True,
        )
        for plan, row in zip(new, rows, strict=True):
            plan.row = row
            plan.refcode, plan.item_db_id = row["refcode"], row["id"]
            named[row["refcode"]] = row["id"]
        self._derived_links(session, new, named)
        self._link(session, user, format_name, imported, plans, staged, notes)
        versions.record_created(session, user, [p.row for p in new if p.row], linked=True)
        record(
            session,
            "items.imported",
            f"{len(new)} items",
            actor=user,
            details={"format": format_name, "exporter": imported.exporter[:500]},
        )
        session.commit()

    def _link(
        self,
        session: Session,
        user: User,
        format_name: str,
        imported: Imported,
        plans: list[_Plan],
        staged: dict[str, _Staged],
        notes: list[str],
    ) -> None:
        """The new items' other creators, collections, files, links and blocks, and the
        records remembered: a few statements for them all."""
        new = [plan for plan in plans if plan.existing is None]
        ids = {p.record.key: p.item_db_id for p in new}
        ids.update(
            {p.record.key: p.existing.id for p in plans if p.existing is not None and not p.hidden}
        )
        creators = [
            {"item_id": p.item_db_id, "user_id": user_id}
            for p in new
            for user_id in p.creators
            if user_id != user.id
        ]
        memberships = [
            {"collection_id": collection_id, "item_id": p.item_db_id}
            for p in new
            for collection_id in self._collection_ids(session, p.collections)
        ]
        relationships = []
        for plan in new:
            for link in plan.record.links:
                target = ids.get(link.key)
                if target is None or target == plan.item_db_id:
                    continue
                relation = link.relation
                if relation not in _RELATIONS:
                    notes.append(f"{plan.record.key}: relation {relation!r} made 'other'")
                    relation = Relation.OTHER.value
                relationships.append(
                    {
                        "item_id": plan.item_db_id,
                        "target_id": target,
                        "relation": relation,
                        "description": link.description[:500],
                        "origin": "manual",
                    }
                )
        for table, values in (
            (item_creators, creators),
            (collection_items, memberships),
            (_RELATIONSHIPS, relationships),
        ):
            if values:
                session.execute(sa.insert(table), values)
        self._attach(session, user, new, staged)
        for plan in new:
            if plan.record.blocks:
                item = session.get(Item, plan.item_db_id)
                assert item is not None
                for wished_block in plan.record.blocks:
                    self._add_block(session, user, item, wished_block, plan, notes)
        self._attach_metadata(session, user, new)
        exporter = imported.exporter[:500]
        if new:
            now = utcnow()
            session.execute(
                sa.insert(_REMEMBERED),
                [
                    {
                        "origin": origin_of(format_name, exporter, p.record.key),
                        "format": format_name,
                        "exporter": exporter,
                        "key": p.record.key,
                        "item_id": p.item_db_id,
                        "created_at": now,
                    }
                    for p in new
                ],
            )
        session.flush()

    def _attach(
        self, session: Session, user: User, new: list[_Plan], staged: dict[str, _Staged]
    ) -> None:
        """The records' files, attached to their items."""
        self._attach_rows(
            session,
            [
                (plan, self._file_row(user, f.name, staged[f.path], f.created_at))
                for plan in new
                for f in plan.record.files
            ],
        )

    def _attach_metadata(self, session: Session, user: User, new: list[_Plan]) -> None:
        """What of each record could not be mapped, attached as a JSON file."""
        metadata_files: dict[str, _Staged] = {}
        attached: list[tuple[_Plan, StoredFile]] = []
        for plan in new:
            if not plan.metadata:
                continue
            content = json.dumps(plan.metadata, ensure_ascii=False, indent=1).encode()
            sha256 = hashlib.sha256(content).hexdigest()
            if sha256 not in metadata_files:  # many records keep the same (an author)
                stored_content = self.store.store(io.BytesIO(content))
                metadata_files[sha256] = _Staged(None, sha256, stored_content.size, "")
            attached.append(
                (plan, self._file_row(user, UNMAPPED_FILE, metadata_files[sha256], None))
            )
        self._attach_rows(session, attached)

    def _attach_rows(self, session: Session, attached: list[tuple[_Plan, StoredFile]]) -> None:
        session.add_all([stored for _, stored in attached])
        session.flush()
        if attached:
            session.execute(
                sa.insert(item_files),
                [{"item_id": p.item_db_id, "file_id": stored.id} for p, stored in attached],
            )
        for plan, stored in attached:
            plan.file_ids.setdefault(stored.sha256, stored.id)

    def _refcodes(self, session: Session, plans: list[_Plan]) -> dict[str, str]:
        """A refcode for each new record: the one it wishes for where well-formed and
        free, a new one otherwise."""
        wishes = {
            p.record.refcode: p.record.key
            for p in plans
            if p.record.refcode and _REFCODE.match(p.record.refcode)
        }
        taken = set(
            session.scalars(sa.select(Item.refcode).where(Item.refcode.in_(list(wishes))))
            if wishes
            else ()
        )
        found = {key: code for code, key in wishes.items() if code not in taken}
        fresh = iter(free_refcodes(session, self.prefix, len(plans) - len(found)))
        return {p.record.key: found.get(p.record.key) or next(fresh) for p in plans}

    def _named_items(
        self, session: Session, user: User, new: list[_Plan], made: set[str], notes: list[str]
    ) -> dict[str, int]:
        """The ids of the items the records' fields name (where their types derive links)
        that the user may read, by refcode. A field naming one that is not here, or not
        the user's to read, and that this import does not make, is kept as the record's
        metadata, with a note, rather than refusing the import."""
        wanted = sorted(
            {code for p in new for code, _ in links.constituent_items(p.type, p.data)} - made
        )
        found: dict[str, int] = {}
        for start in range(0, len(wanted), 500):
            query = sa.select(Item.refcode, Item.id).where(
                Item.refcode.in_(wanted[start : start + 500]),
                Item.deleted_at.is_(None),
                access.readable(user),
            )
            found.update((refcode, item_id) for refcode, item_id in session.execute(query))
        for plan in new:
            named = {code for code, _ in links.constituent_items(plan.type, plan.data)}
            unknown = named - made - set(found)
            if not unknown:
                continue
            for name in types.current().info(plan.type).derived_links:
                if name in plan.data:
                    plan.metadata[name] = jsonable(plan.data.pop(name))
            missing = ", ".join(sorted(unknown))
            notes.append(
                f"{plan.record.key}: names items that are not here or not yours to read "
                f"({missing}): kept as metadata"
            )
        return found

    def _derived_links(self, session: Session, new: list[_Plan], named: dict[str, int]) -> None:
        """The links the new items' types derive from their fields, as add_item makes
        them (to the item named, as its parent)."""
        rows: dict[tuple[int, int, str], dict[str, Any]] = {}
        for plan in new:
            for code, origin in links.constituent_items(plan.type, plan.data):
                key = (plan.item_db_id, named[code], origin)
                rows.setdefault(
                    key,
                    {
                        "item_id": plan.item_db_id,
                        "target_id": named[code],
                        "relation": Relation.PARENT.value,
                        "description": "",
                        "origin": origin,
                    },
                )
        if rows:
            session.execute(sa.insert(_RELATIONSHIPS), list(rows.values()))

    def _item_ids(self, session: Session, plans: list[_Plan], notes: list[str]) -> dict[str, str]:
        """The item_id each new record wishes for (taken out of its data), where no item
        has it yet and no record before it in the archive wishes for it too; the others
        get one made of their refcode, and a note."""
        wishes = {p.record.key: str(p.data.pop("item_id")) for p in plans if p.data.get("item_id")}
        taken: set[str] = set()
        values = list(set(wishes.values()))
        for start in range(0, len(values), 500):
            query = sa.select(Item.item_id).where(Item.item_id.in_(values[start : start + 500]))
            taken.update(session.scalars(query))
        chosen: dict[str, str] = {}
        for key, item_id in wishes.items():
            if item_id in taken:
                notes.append(f"{key}: item_id {item_id!r} is taken; it was given another")
                continue
            taken.add(item_id)
            chosen[key] = item_id
        return chosen

    def _collections(
        self,
        session: Session,
        user: User,
        plan: _Plan,
        made: set[str],
        notes: list[str],
    ) -> list[str]:
        """The collections of the record the user may add to; those that do not exist
        are made (the user owns them); the others are noted."""
        wanted = [c for c in plan.record.collections if c]
        if not wanted:
            return []
        writable = collections.writable_collections(session, user, wanted)
        existing = set(
            session.scalars(
                sa.select(Collection.collection_id).where(Collection.collection_id.in_(wanted))
            )
        )
        chosen = []
        for collection_id in wanted:
            if collection_id in writable or collection_id in made:
                chosen.append(collection_id)
            elif collection_id in existing:
                notes.append(
                    f"{plan.record.key}: not added to collection {collection_id}: "
                    "you may not add to it"
                )
                plan.metadata.setdefault("collections", []).append(collection_id)
            elif _COLLECTION_ID.match(collection_id):
                session.add(
                    Collection(
                        collection_id=collection_id, title=collection_id, created_by_id=user.id
                    )
                )
                session.flush()
                made.add(collection_id)
                chosen.append(collection_id)
            else:
                plan.metadata.setdefault("collections", []).append(collection_id)
        return chosen

    def _file_row(
        self, user: User, name: str, checked: _Staged, created_at: dt.datetime | None
    ) -> StoredFile:
        return StoredFile(
            sha256=checked.sha256,
            size=checked.size,
            name=safe_filename(name),
            media_type=checked.media_type or guess_media_type(name),
            origin="import",
            created_by_id=user.id,
            **({"created_at": created_at} if created_at else {}),
        )

    def _collection_ids(self, session: Session, collection_ids: list[str]) -> list[int]:
        if not collection_ids:
            return []
        return list(
            session.scalars(
                sa.select(Collection.id).where(Collection.collection_id.in_(collection_ids))
            )
        )

    def _add_block(
        self,
        session: Session,
        user: User,
        item: Item,
        wished: ImportedBlock,
        plan: _Plan,
        notes: list[str],
    ) -> None:
        file_ids = [plan.file_ids[sha] for sha in wished.file_sha256s if sha in plan.file_ids]
        body = {
            "block_type": wished.block_type,
            "title": wished.title,
            "data": dict(wished.data),
            "file_ids": file_ids,
        }
        try:
            blocks.add_block(session, self.block_types, user, item, body, noted=False)
        except (Invalid, NotFound) as error:
            notes.append(
                f"{plan.record.key}: block {wished.title or wished.block_type!r} kept "
                f"as metadata ({error})"
            )
            plan.metadata.setdefault("blocks", []).append(body)


class _Damaged(Exception):
    """A part of the archive could not be read (a problem is noted)."""


def _open_part(archive: Archive, path: str, problems: list[str]) -> Any:
    """An archive's part to read; _Damaged, with a problem noted, if its header is."""
    try:
        return archive.open(path)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
        problems.append(f"{path}: damaged in the archive ({error})")
        raise _Damaged from None


def _read_part(entry: Any, path: str, problems: list[str]) -> bytes:
    """The next chunk of an archive's part; _Damaged, with a problem noted, if the
    archive is damaged there (a wrong CRC is found at the part's end)."""
    try:
        chunk: bytes = entry.read(_CHUNK)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
        problems.append(f"{path}: damaged in the archive ({error})")
        raise _Damaged from None
    return chunk


def _batches(values: list[Any], size: int = 500) -> list[list[Any]]:
    """``values`` in lists of ``size`` (an IN list every database takes)."""
    return [values[start : start + size] for start in range(0, len(values), size)]


def _discard(staged: Mapping[str, _Staged]) -> None:
    for each in staged.values():
        if each.temp is not None:
            each.temp.discard()


def _read(reader: InterchangeFormat, archive: Archive) -> Imported:
    """The format's reading of the archive; what a format trips over in a hostile or
    broken archive is a 422 naming the archive, not a server error."""
    try:
        return reader.read(archive)
    except LabvaultError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as error:
        raise Invalid(
            f"{archive.name} could not be read as {reader.display_name or reader.name}: "
            f"{type(error).__name__}: {error}"
        ) from None


#: What the report says of a record imported before into an item the user may not read.
_HIDDEN: dict[str, Any] = {
    "state": "existing",
    "refcode": None,
    "type": "",
    "name": "",
    "files": [],
    "blocks": 0,
    "links": 0,
    "unmapped": [],
}

#: The common fields a record gives (the rest are the type's own).
_COMMON = ("name", "description", "status", "item_id")


def _validated(item_type: str, each: ImportedRecord) -> tuple[dict[str, Any], dict[str, Any]]:
    """The record's values as ``item_type`` takes them, and those it does not (metadata,
    with the record's own). Values refused are left out and kept as metadata, one
    round at a time (a schema may report one problem only once another is gone)."""
    metadata = dict(each.metadata)
    body: dict[str, Any] = {
        "name": each.name,
        "description": each.description,
        **({"status": each.status} if each.status else {}),
        **({"item_id": each.item_id} if each.item_id else {}),
        **dict(each.fields),
    }
    for _ in range(len(body) + 1):
        try:
            return validate_item_input(item_type, body), metadata
        except ma.ValidationError as error:
            messages = error.messages if isinstance(error.messages, dict) else {}
            refused = [name for name in messages if name in body]
            if not refused:
                break
            for name in refused:
                value = body.pop(name)
                if name in ("name", "description"):
                    body[name] = "" if name == "description" else str(value)[:200]
                metadata[name] = value
            if "name" in refused and "name" in body:
                try:
                    return validate_item_input(item_type, body), metadata
                except ma.ValidationError:
                    body["name"] = ""
    raise Invalid(f"{each.key}: could not be made a {item_type}")


def _report(
    format_name: str,
    filename: str,
    imported: Imported,
    plans: list[_Plan],
    notes: list[str],
    people: list[dict[str, Any]],
    dry_run: bool,
) -> dict[str, Any]:
    items = []
    for plan in plans:
        each = plan.record
        existing = plan.existing
        if plan.hidden:
            items.append({**_HIDDEN, "key": each.key})
            continue
        items.append(
            {
                "key": each.key,
                "state": "existing" if existing else ("new" if dry_run else "created"),
                "refcode": existing.refcode if existing else plan.refcode,
                "type": existing.type if existing else plan.type,
                "name": existing.name if existing else plan.data.get("name", ""),
                "files": plan.files,
                "blocks": len(each.blocks),
                "links": len(each.links),
                "unmapped": sorted(plan.metadata) if not existing else [],
            }
        )
    return {
        "format": format_name,
        "archive": filename,
        "exporter": imported.exporter,
        "dry_run": dry_run,
        "created": sum(1 for p in plans if p.existing is None),
        "existing": sum(1 for p in plans if p.existing is not None),
        "items": items,
        "people": people,
        "notes": notes,
    }
