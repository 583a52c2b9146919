"""What an importer's record is to the item it becomes: its fields validated, and how
they differ from what the item has."""

from __future__ import annotations

import datetime as dt
from typing import Any

import marshmallow as ma

from labvault.items import service as items
from labvault.items import types
from labvault.items.bulk import validate_input
from labvault.plugin import InventoryRecord, RowProblem

#: The type of the items an inventory import makes.
KIND = "starting_material"
#: What an importer may set: the item's own text and date, and its type's fields.
COMMON = ("name", "description", "date")


def allowed() -> frozenset[str]:
    """The fields an importer may set."""
    return frozenset({*COMMON, *types.current().writable_info(KIND).field_names})


#: The fields of a record found :func:`stored_already` (compared by identity).
UNCHANGED: dict[str, Any] = {}


def _problems(row: int, messages: Any) -> list[RowProblem]:
    if not isinstance(messages, dict):
        return [RowProblem(row, None, str(messages))]
    found = []
    for field, text in messages.items():
        if isinstance(text, dict):  # a list's or dict's items: name the field once
            text = next(iter(text.values()))
        reason = "; ".join(map(str, text)) if isinstance(text, list) else str(text)
        found.append(RowProblem(row, None if field == "_schema" else field, reason))
    return found


def validated(record: InventoryRecord) -> tuple[dict[str, Any] | None, list[RowProblem]]:
    """The record's fields as an item takes them, or the problems that keep it out."""
    unknown = sorted(set(record.fields) - allowed())
    if unknown:
        reason = f"the importer gave fields a starting material does not have: {unknown}"
        return None, [RowProblem(record.row, None, reason)]
    body = dict(record.fields)
    if record.attributes:
        body["attributes"] = {str(k): str(v) for k, v in record.attributes.items()}
    try:
        return validate_input(KIND, body), []
    except ma.ValidationError as error:
        return None, _problems(record.row, error.messages)


def _stored(item: Any, name: str) -> Any:
    if name in COMMON:
        value = getattr(item, name)
        if name != "date":
            return value or None  # an empty text is kept as ""
        return value.isoformat() if isinstance(value, dt.date) else value
    return item.fields.get(name)


def differences(item: Any, data: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``data`` whose values differ from the item's (an :class:`Item` or a
    row of its columns)."""
    changes = {}
    for name, value in data.items():
        new = items.jsonable(value)
        if name in COMMON and name != "date":
            new = new or None
        if new != _stored(item, name):
            changes[name] = value
    return changes


def _same(new: Any, old: Any) -> bool:
    """Whether ``new`` is ``old``'s value, of the same types throughout (so ``1`` is not
    ``1.0`` and ``True`` is not ``1``: validation could tell them apart)."""
    if type(new) is not type(old):
        return False
    if isinstance(new, dict):
        return new.keys() == old.keys() and all(_same(v, old[k]) for k, v in new.items())
    if isinstance(new, list):
        return len(new) == len(old) and all(map(_same, new, old))
    return bool(new == old)


def stored_already(item: Any, record: InventoryRecord) -> bool:
    """Whether every field and attribute of the record is, exactly, what the item (a row of
    the columns :func:`differences` reads) has: values that passed validation when they
    were stored, which validation would leave as they are, and no difference to write.
    Anything else (a value to convert, a text to trim) is validated and compared."""
    if not allowed().issuperset(record.fields):
        return False
    if not all(_same(value, _stored(item, name)) for name, value in record.fields.items()):
        return False
    if not record.attributes:
        return True
    attributes = {str(k): str(v) for k, v in record.attributes.items()}
    return _same(attributes, _stored(item, "attributes"))
