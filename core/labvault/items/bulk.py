"""Many new items added at once (an inventory import): a few statements for a batch
rather than an ORM object, a flush and its statements per item.

The items are what :func:`labvault.items.service.add_item` makes of the same bodies, but
for bodies that link to nothing: no chosen item_id, creators, collections, relationships
or constituents. Their only creator is the user who adds them. Their first versions are
written by :func:`labvault.versions.service.record_created` from the values returned.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import marshmallow as ma
import sqlalchemy as sa
from sqlalchemy.orm import Session

from labvault.auth.models import User
from labvault.db import begin_write, utcnow
from labvault.errors import Forbidden
from labvault.items import access, field_values, links, types
from labvault.items.models import Item, item_creators
from labvault.items.schemas import validate_item_input
from labvault.items.service import COMMON_COLUMNS, generated_item_id, jsonable
from labvault.items.texts import texts_of

#: What a body added in bulk cannot have: each needs checks and rows of its own (as do
#: items its fields name where its type derives links from them).
LINKING = frozenset({"item_id", "creators", "collections", "relationships"})

_items = cast(sa.Table, Item.__table__)


# --- validating ------------------------------------------------------------------------


def _fieldwise(schema: ma.Schema) -> bool:
    """Whether loading with ``schema`` is loading each given field alone: no hooks or
    validators that look at several, no defaults, required fields or renamed keys."""
    return not any(schema._hooks.values()) and all(
        not field.required and field.load_default is ma.missing and field.data_key is None
        for field in schema.load_fields.values()
    )


#: Whether each type's input schema loads field by field, by its schema (made once per
#: catalogue of types).
_FIELDWISE: dict[ma.Schema, bool] = {}
#: Texts found valid, as their fields loaded them, by (item type, field, text): the rows
#: of an import repeat most of theirs (a supplier, a unit, a location, a date).
_LOADED_TEXTS: dict[tuple[str, str, str], Any] = {}
#: At most this many are kept (emptied when full: a few MB).
MOST_LOADED_TEXTS = 20_000
_ABSENT = object()


def validate_input(item_type: str, data: Any) -> dict[str, Any]:
    """What :func:`~labvault.items.schemas.validate_item_input` answers, for bodies
    validated by the thousand (an import): where the type's schema loads each field
    alone, the fields are loaded one by one and a text loaded before is not loaded again.
    A body with any problem is given to ``validate_item_input``, whose errors it raises."""
    schema = types.current().writable_info(item_type).input
    fieldwise = _FIELDWISE.get(schema)
    if fieldwise is None:
        fieldwise = _FIELDWISE[schema] = _fieldwise(schema)
    if not isinstance(data, dict) or not fieldwise:
        return validate_item_input(item_type, data)
    schema_fields = schema.load_fields
    loaded: dict[str, Any] = {}
    try:
        for name, value in data.items():
            if name == "type":
                continue
            field = schema_fields.get(name)
            if field is None:  # unknown: the schema says so
                return validate_item_input(item_type, data)
            if type(value) is not str:
                loaded[name] = field.deserialize(value, name, data)
                continue
            key = (item_type, name, value)
            found = _LOADED_TEXTS.get(key, _ABSENT)
            if found is _ABSENT:
                found = field.deserialize(value, name, data)
                if len(_LOADED_TEXTS) >= MOST_LOADED_TEXTS:
                    _LOADED_TEXTS.clear()
                _LOADED_TEXTS[key] = found
            loaded[name] = found
    except ma.ValidationError:
        return validate_item_input(item_type, data)
    return {name: loaded[name] for name in schema_fields if name in loaded}


# --- writing ---------------------------------------------------------------------------


def item_values(
    user: User,
    data: dict[str, Any],
    refcode: str,
    now: dt.datetime,
    item_id: str | None = None,
    *,
    named_checked: bool = False,
) -> dict[str, Any]:
    """The column values of the item ``add_item`` would make of the validated body
    ``data`` (which has its ``type``) with ``refcode`` (one of ``free_refcodes``), and
    ``item_id`` (one the caller found free) or a generated one. ``named_checked``: the
    caller found the items its fields name readable, and links them itself."""
    item_type = data["type"]
    info = types.current().writable_info(item_type)
    linking = LINKING.intersection(data)
    derived = [] if named_checked else links.constituent_items(item_type, data)
    if linking or derived:
        named = sorted(linking) + [code for code, _ in derived]
        raise ValueError(f"items added in bulk link to nothing: {named}")
    values: dict[str, Any] = {
        "refcode": refcode,
        "item_id": item_id or generated_item_id(refcode),
        "type": item_type,
        "name": "",
        "description": "",
        "date": None,
        "status": data.get("status") or info.initial_status(),
    }
    for column in COMMON_COLUMNS:  # as apply_changes sets them
        if column in data:
            value = data[column]
            values[column] = value if value is not None or column == "date" else ""
    fields = {name: jsonable(data[name]) for name in info.field_names if name in data}
    values["search_title"], values["search_body"] = texts_of(
        item_type, values["name"], values["item_id"], refcode, values["description"], fields
    )
    values.update(
        fields=fields,
        created_by_id=user.id,
        created_at=now,
        updated_at=now,
        version=1,
        deleted_at=None,
        deleted_by_id=None,
    )
    return values


def add_items(
    session: Session,
    user: User,
    bodies: list[dict[str, Any]],
    refcodes: list[str],
    *,
    columns: list[dict[str, Any]] | None = None,
    named_checked: bool = False,
) -> list[dict[str, Any]]:
    """Add items made from validated bodies (each with its ``type``) to the current write,
    with ``user`` as their creator: the items' column values, with their ``id``, in the
    order of ``bodies``. No version is written (see the module's docstring).

    ``columns``: for each body, values the caller vouches for: ``item_id`` (free),
    ``created_at`` and ``updated_at`` (an imported item's); ``named_checked``: see
    :func:`item_values`."""
    if not access.may_create(user):
        raise Forbidden("your account is not verified yet: you can only read")
    if not bodies:
        return []
    begin_write(session)
    now = utcnow()
    chosen = columns or [{} for _ in bodies]
    rows = []
    for data, refcode, given in zip(bodies, refcodes, chosen, strict=True):
        row = item_values(
            user, data, refcode, now, given.get("item_id"), named_checked=named_checked
        )
        row.update((k, v) for k, v in given.items() if k in ("created_at", "updated_at") and v)
        rows.append(row)
    session.execute(sa.insert(_items), rows)
    # the ids, by refcode (unique): the one way every database answers for a batch
    query = sa.select(_items.c.refcode, _items.c.id).where(
        _items.c.refcode.in_([row["refcode"] for row in rows])
    )
    ids = {refcode: item_id for refcode, item_id in session.execute(query)}
    for row in rows:
        row["id"] = ids[row["refcode"]]
    session.execute(
        sa.insert(item_creators), [{"item_id": row["id"], "user_id": user.id} for row in rows]
    )
    catalogue = types.current()
    field_values.store_many(
        session,
        (
            value
            for row in rows
            for value in field_values.rows_of(catalogue.info(row["type"]), row["id"], row["fields"])
        ),
    )
    return rows
