"""What an export holds: the items chosen (one with its related items, a collection, or
all a user may read), read as the user may see them, and handed to an interchange format
as :class:`labvault.plugin.Export`.

The items are chosen, and their creators read, before the format writes its first byte
(so a refusal is an error answer, not a broken download); the items themselves are read
in batches of :data:`BATCH` as the format asks for them, each batch in a session of its
own (an export of everything may be long and streamed to a slow client).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import marshmallow as ma
import sqlalchemy as sa
from sqlalchemy.orm import Session

from labvault import __version__
from labvault.auth.models import LinkedIdentity, User
from labvault.blocks import service as blocks
from labvault.blocks.models import Block
from labvault.blocks.service import BlockTypes
from labvault.collections import service as collections
from labvault.collections.models import collection_items
from labvault.database import Database
from labvault.errors import Invalid, NotFound
from labvault.files.models import StoredFile, item_files
from labvault.items import access, links, lists, types
from labvault.items.models import Item, item_creators
from labvault.items.schemas import ItemSchema
from labvault.items.service import get_item, item_to_dict, jsonable
from labvault.plugin import (
    AuthProvider,
    Export,
    ExportedBlock,
    ExportedFile,
    ExportedItem,
    ExportedLink,
    ExportedPerson,
    ExportedVersion,
    ExportSoftware,
)
from labvault.registry import AUTH_PROVIDERS, BLOCK_TYPES, Registry
from labvault.versions.service import versions_of

#: Items read (with their links, files and blocks) per round of queries.
BATCH = 200
#: Related items are followed this many steps at most (``depth``).
MAX_DEPTH = 5
#: What wrote an export: named by its package index page, a stable URL of the software.
SOFTWARE = ExportSoftware("labvault", __version__, "https://pypi.org/project/labvault/")
_ITEM_SCHEMA = ItemSchema()
#: What a block is known by on this server alone (its files are named by sha256 instead,
#: its order by its place among the item's blocks).
_BLOCK_LOCAL = frozenset({"id", "file_ids", "version", "position"})


@dataclass(frozen=True)
class Chosen:
    """The items an export holds (their ids, in order) and what to call it."""

    name: str
    title: str
    description: str
    item_ids: list[int]


def _name(text: str) -> str:
    """``text`` as a file name: letters, digits, ``-``, ``_`` and ``.`` only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "export"


def choose_item(session: Session, user: User, refcode: str, depth: int = 0) -> Chosen:
    """The item ``refcode`` and the items related to it within ``depth`` steps (either
    direction), those ``user`` may read; NotFound when ``user`` may not read the item."""
    if not 0 <= depth <= MAX_DEPTH:
        raise Invalid(fields={"depth": [f"must be between 0 and {MAX_DEPTH}"]}, location="query")
    item = get_item(session, user, refcode)
    nodes = lists.graph(session, user, item, depth)["nodes"] if depth else [item]
    related = f" and the items related to it within {depth} steps" if depth else ""
    return Chosen(
        _name(item.refcode),
        item.name or item.refcode,
        f"Export of item {item.refcode}{related}",
        [node.id for node in nodes],
    )


def choose_collection(session: Session, user: User, collection_id: str) -> Chosen:
    """The items of the collection ``collection_id`` that ``user`` may read (not those in
    the trash); NotFound when ``user`` may not read the collection."""
    collection = collections.get_collection(session, user, collection_id)
    # not a join: the permission probes read collection_items themselves
    members = sa.select(collection_items.c.item_id).where(
        collection_items.c.collection_id == collection.id
    )
    ids = session.scalars(
        sa.select(Item.id)
        .where(Item.id.in_(members), Item.deleted_at.is_(None), access.readable(user))
        .order_by(Item.id)
    ).all()
    return Chosen(
        _name(collection.collection_id),
        collection.title or collection.collection_id,
        f"Export of collection {collection.collection_id}",
        list(ids),
    )


def choose_all(session: Session, user: User) -> Chosen:
    """Every item ``user`` may read, not those in the trash."""
    ids = session.scalars(
        sa.select(Item.id).where(Item.deleted_at.is_(None), access.readable(user)).order_by(Item.id)
    ).all()
    return Chosen(
        "labvault-export", "labvault export", f"Every item {_who(user)} may read", list(ids)
    )


def _who(user: User) -> str:
    return user.display_name or user.email or f"user {user.id}"


def _people(
    session: Session, item_ids: Sequence[int], providers: Mapping[str, AuthProvider]
) -> dict[str, ExportedPerson]:
    """The creators of the items, each with the persistent identifiers (researcher ids) the
    sign-in providers of their linked identities know them by."""
    people: dict[int, tuple[str, list[str]]] = {}
    for start in range(0, len(item_ids), BATCH):
        batch = item_ids[start : start + BATCH]
        for user_id, name in session.execute(
            sa.select(User.id, User.display_name)
            .join(item_creators, item_creators.c.user_id == User.id)
            .where(item_creators.c.item_id.in_(batch))
        ):
            people.setdefault(user_id, (name, []))
    if people:
        for user_id, provider, subject in session.execute(
            sa.select(LinkedIdentity.user_id, LinkedIdentity.provider, LinkedIdentity.subject)
            .where(LinkedIdentity.user_id.in_(list(people)))
            .order_by(LinkedIdentity.id)
        ):
            instance = providers.get(provider)
            identifier = None if instance is None else instance.person_identifier(subject)
            if identifier and identifier not in people[user_id][1]:
                people[user_id][1].append(identifier)
    return {
        _person_key(user_id): ExportedPerson(_person_key(user_id), name, tuple(identifiers))
        for user_id, (name, identifiers) in sorted(people.items())
    }


def _person_key(user_id: int) -> str:
    return f"user-{user_id}"


class Configured(Protocol):
    """What an exporter is made from: the app's or a command's state
    (``labvault.runtime.LabvaultState``)."""

    @property
    def settings(self) -> Mapping[str, Any]: ...
    @property
    def registry(self) -> Registry: ...
    @property
    def database(self) -> Database: ...


@dataclass
class Exporter:
    """Builds the :class:`Export` of chosen items for ``user``: ``sessions`` opens a
    read session of its own for each batch; ``block_types`` and ``providers`` are the
    configured ones; ``public_url`` (``PUBLIC_URL``, or None) gives the items' pages."""

    sessions: Callable[[], AbstractContextManager[Session]]
    block_types: BlockTypes
    providers: Mapping[str, AuthProvider]
    public_url: str | None

    @classmethod
    def of(cls, state: Configured) -> Exporter:
        """The exporter of a server's (or a command's) configuration."""
        registry = state.registry
        return cls(
            sessions=state.database.sessionmaker,
            block_types=registry.instances_of(BLOCK_TYPES),
            providers=registry.instances_of(AUTH_PROVIDERS),
            public_url=state.settings.get("PUBLIC_URL"),
        )

    def export(
        self, session: Session, user: User, chosen: Chosen, *, versions: bool = False
    ) -> Export:
        """The export of ``chosen``: refcodes and people read now, in ``session``; the
        items as the format reads them (``versions``: with every version of each)."""
        refcodes: dict[int, str] = {}
        for start in range(0, len(chosen.item_ids), BATCH):
            batch = chosen.item_ids[start : start + BATCH]
            query = sa.select(Item.id, Item.refcode).where(Item.id.in_(batch))
            refcodes.update((item_id, refcode) for item_id, refcode in session.execute(query))
        return Export(
            name=chosen.name,
            title=chosen.title,
            description=chosen.description,
            created_at=dt.datetime.now(dt.UTC),
            software=SOFTWARE,
            publisher=self.public_url or "labvault",
            publisher_url=self.public_url,
            refcodes=tuple(refcodes[i] for i in chosen.item_ids),
            people=_people(session, chosen.item_ids, self.providers),
            items=self._items(user.id, chosen.item_ids, versions),
        )

    def _items(self, user_id: int, item_ids: list[int], versions: bool) -> Iterator[ExportedItem]:
        """The items, a batch at a time; the next batch is read in a thread while the
        format writes this one (compressing releases the GIL, so the two overlap)."""
        exported = set(item_ids)
        batches = [item_ids[start : start + BATCH] for start in range(0, len(item_ids), BATCH)]

        def read(batch: list[int]) -> list[ExportedItem]:
            with self.sessions() as session:
                user = session.get(User, user_id)
                if user is None or not user.is_active:
                    raise NotFound("the exporting user is gone")
                return self._batch(session, user, batch, exported, versions)

        if not batches:  # nothing the user may read
            return
        with ThreadPoolExecutor(1, thread_name_prefix="labvault-export") as reader:
            ahead = reader.submit(read, batches[0])
            for following in [*batches[1:], None]:
                current = ahead
                if following is not None:
                    ahead = reader.submit(read, following)
                yield from current.result()

    def _batch(
        self, session: Session, user: User, ids: list[int], exported: set[int], versions: bool
    ) -> list[ExportedItem]:
        found = {
            item.id: item
            for item in session.scalars(
                sa.select(Item).where(Item.id.in_(ids), Item.deleted_at.is_(None))
            )
        }
        related = links.related_of(session, list(found))
        targets = {r.target_id for each in related.values() for r in each.relationships}
        readable = set(
            session.scalars(
                sa.select(Item.id).where(
                    Item.id.in_(targets), Item.deleted_at.is_(None), access.readable(user)
                )
            )
            if targets
            else ()
        )
        for each in related.values():  # as the user sees them: links to items they may read
            each.relationships[:] = [r for r in each.relationships if r.target_id in readable]
        files = _files_of(session, list(found))
        item_blocks = blocks.blocks_of_items(session, list(found))
        catalogue = types.current()
        result = []
        for item_id in ids:  # gone since it was chosen (deleted): left out
            item = found.get(item_id)
            if item is None:
                continue
            shown = item_to_dict(session, item, related=related[item_id])
            document = jsonable(_ITEM_SCHEMA.dump(shown))
            del document["version"]  # the counter of this server's history of it
            by_id = {f.id: f for f in files.get(item_id, [])}
            result.append(
                ExportedItem(
                    refcode=item.refcode,
                    item_id=item.item_id or "",
                    type=item.type,
                    type_name=(
                        catalogue.info(item.type).type.shown_name()
                        if item.type in catalogue
                        else item.type
                    ),
                    name=item.name,
                    description=item.description or "",
                    status=item.status,
                    created_at=item.created_at,
                    updated_at=item.updated_at,
                    fields={k: document[k] for k in item.fields if k in document},
                    creators=tuple(_person_key(c.id) for c in related[item_id].creators),
                    collections=tuple(related[item_id].collection_ids),
                    links=tuple(
                        ExportedLink(
                            r.refcode,
                            r.item_id or "",
                            r.relation,
                            r.description or "",
                            r.target_id in exported,
                        )
                        for r in related[item_id].relationships
                    ),
                    files=tuple(
                        ExportedFile(f.sha256, f.name, f.size, f.media_type, f.created_at)
                        for f in files.get(item_id, [])
                    ),
                    blocks=tuple(
                        self._block(session, item, block, by_id)
                        for block in item_blocks.get(item_id, [])
                    ),
                    document=document,
                    units=_units(item.type),
                    versions=_versions(session, user, item) if versions else (),
                    url=f"{self.public_url.rstrip('/')}/items/{item.refcode}"
                    if self.public_url
                    else None,
                )
            )
        return result

    def _block(
        self, session: Session, item: Item, block: Block, files: Mapping[int, StoredFile]
    ) -> ExportedBlock:
        block = blocks.current(session, self.block_types, item, block)
        return ExportedBlock(
            block_id=block.id,
            block_type=block.block_type,
            title=block.title,
            data={  # as the API shows it, without what only this server knows it by
                key: value
                for key, value in jsonable(blocks.block_to_dict(block)).items()
                if key not in _BLOCK_LOCAL
            },
            file_sha256s=tuple(files[i].sha256 for i in block.file_ids if i in files),
            plot=blocks.plot_content(session, self.block_types, item, block),
        )


def _versions(session: Session, user: User, item: Item) -> tuple[ExportedVersion, ...]:
    return tuple(
        ExportedVersion(v["number"], v["action"], v["created_at"], jsonable(v))
        for v in versions_of(session, user, item)
    )


def _units(type_name: str) -> dict[str, str]:
    """The unit of each quantity field of the item type (none for a disabled type)."""
    catalogue = types.current()
    if type_name not in catalogue:
        return {}
    return _units_of(catalogue.info(type_name).type.FieldsSchema)


@functools.cache
def _units_of(schema: type[ma.Schema]) -> dict[str, str]:
    return {
        name: str(field.metadata["x-unit"])
        for name, field in schema().fields.items()
        if "x-unit" in field.metadata
    }


def _files_of(session: Session, item_ids: list[int]) -> dict[int, list[StoredFile]]:
    """The files attached to each item, in the order they were attached."""
    found: dict[int, list[StoredFile]] = {}
    for item_id, stored in session.execute(
        sa.select(item_files.c.item_id, StoredFile)
        .join(StoredFile, StoredFile.id == item_files.c.file_id)
        .where(item_files.c.item_id.in_(item_ids))
        .order_by(StoredFile.id)
    ):
        found.setdefault(item_id, []).append(stored)
    return found
