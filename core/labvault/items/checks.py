"""Stored items checked against their type as it is now: a type's fields and statuses may
change after items were made (a field removed, a bound added, a status dropped) and its
plugin may be disabled. Such items stay readable; these checks find them
(``labvault items check-type``, ``labvault config check``).

They read with SQLAlchemy Core, a batch of rows at a time: a type may have a million
items, and an item's ORM object (its creators, its relationships) is not needed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import marshmallow as ma
import sqlalchemy as sa

from labvault.items.models import Item
from labvault.items.service import generated_item_id
from labvault.items.types import TypeInfo

#: Items read per statement.
BATCH_SIZE = 500

_items = Item.__table__


@dataclass(frozen=True)
class ItemProblems:
    """An item that does not validate against its type, and why: one line per problem,
    each naming the field (``c_rate: Must be greater than or equal to 0.``)."""

    refcode: str
    item_id: str
    trashed: bool
    problems: tuple[str, ...]


@dataclass
class TypeCheck:
    """How many items of a type were read, and how many (of them in the trash) failed."""

    checked: int = 0
    failed: int = 0
    failed_in_trash: int = 0


def problems_of(
    info: TypeInfo, status: str, fields: Mapping[str, Any], item_id: str | None = None
) -> list[str]:
    """Why an item of type ``info`` with this stored ``status`` and ``fields`` (JSON, as
    the database keeps them) and chosen ``item_id`` (None: a generated one, which fits
    any type) does not validate now; empty if it does."""
    problems: list[str] = []
    if item_id is not None and info.type.identifier_pattern:
        try:
            info.input.fields["item_id"].deserialize(item_id)
        except ma.ValidationError as exc:
            problems += _lines(exc.messages, "item_id")
    if status not in info.type.statuses:
        problems.append(f"status: {status!r} is not a status of {info.name}")
    declared = {name: value for name, value in fields.items() if name in info.field_names}
    try:
        info.fields_only.load(declared)
    except ma.ValidationError as exc:
        problems += _lines(exc.messages)
    problems += [
        f"{name}: no longer a field of the type"
        for name in sorted(fields)
        if name not in info.field_names
    ]
    return problems


def _lines(messages: Any, path: str = "") -> list[str]:
    """marshmallow's error messages (nested by field, list index, ...) as ``path: message``
    lines."""
    if isinstance(messages, Mapping):
        return [
            line
            for key, nested in messages.items()
            for line in _lines(nested, f"{path}.{key}" if path else str(key))
        ]
    if isinstance(messages, list | tuple):
        return [line for each in messages for line in _lines(each, path)]
    return [f"{path or '_schema'}: {messages}"]


def check_type(
    connection: sa.Connection,
    info: TypeInfo,
    totals: TypeCheck,
    *,
    batch_size: int = BATCH_SIZE,
) -> Iterator[ItemProblems]:
    """The items of type ``info`` (those in the trash too) that do not validate, in the
    order they were made; ``totals`` counts as they are read."""
    query = (
        sa.select(
            _items.c.id,
            _items.c.refcode,
            _items.c.item_id,
            _items.c.status,
            _items.c.fields,
            _items.c.deleted_at,
        )
        .where(_items.c.type == info.name, _items.c.id > sa.bindparam("after"))
        .order_by(_items.c.id)
        .limit(batch_size)
    )
    after = 0
    while True:
        rows = connection.execute(query, {"after": after}).all()
        for row in rows:
            totals.checked += 1
            chosen = None if row.item_id == generated_item_id(row.refcode) else row.item_id
            problems = problems_of(info, row.status, row.fields or {}, chosen)
            if problems:
                trashed = row.deleted_at is not None
                totals.failed += 1
                totals.failed_in_trash += trashed
                yield ItemProblems(row.refcode, row.item_id, trashed, tuple(problems))
        if len(rows) < batch_size:
            return
        after = rows[-1].id


def item_counts_by_type(connection: sa.Connection) -> dict[str, int]:
    """How many items (those in the trash too) each type has, by type name."""
    query = sa.select(_items.c.type, sa.func.count()).group_by(_items.c.type)
    return {name: count for name, count in connection.execute(query)}


def types_without_plugin(connection: sa.Connection, enabled: Any) -> dict[str, int]:
    """Types that have items but are not among ``enabled`` (type names), with their
    item counts: their items are read-only until a plugin provides the type again."""
    return {
        name: count
        for name, count in sorted(item_counts_by_type(connection).items())
        if name not in enabled
    }
