"""The values of the fields item types declare ``filterable``, kept in
``item_field_values`` in the item's write (the model says why), and the conditions and
order a list reads them by."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labvault.items.models import Item, ItemFieldValue
from labvault.items.types import Filterable, TypeInfo

__all__ = [
    "Filterable",
    "has_values",
    "matching",
    "met_by_item",
    "rows_of",
    "sorted_by",
    "store",
    "store_many",
]

_values = cast(sa.Table, ItemFieldValue.__table__)

#: SQL of each range operator.
_OPERATORS = {
    "eq": lambda column, value: column == value,
    "gte": lambda column, value: column >= value,
    "gt": lambda column, value: column > value,
    "lte": lambda column, value: column <= value,
    "lt": lambda column, value: column < value,
}


def rows_of(info: TypeInfo, item_id: int, fields: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The side table's rows of an item of type ``info`` with these stored ``fields``; a
    value the field no longer reads as its kind (a text in a now numeric field) has none."""
    rows = []
    for name, filterable in info.filterable.items():
        value = fields.get(name)
        for each in value if filterable.many and isinstance(value, list) else [value]:
            if each is None or each == "" or isinstance(each, dict | list):
                continue
            try:
                rows.append(_row(filterable, item_id, each))
            except (TypeError, ValueError):  # stored before the field became a number
                continue
    return rows


def _row(filterable: Filterable, item_id: int, value: Any) -> dict[str, Any]:
    return {
        "item_id": item_id,
        "name": filterable.name,
        "text_value": filterable.stored(value) if filterable.kind == "text" else None,
        "number_value": filterable.stored(value) if filterable.kind == "number" else None,
    }


def store(session: Session, info: TypeInfo, item: Item, *, new: bool = False) -> None:
    """Keep the item's rows in step with its fields, in the current write (``new``: it
    has none yet)."""
    if not info.filterable:
        return
    if not new:
        session.execute(sa.delete(_values).where(_values.c.item_id == item.id))
    rows = rows_of(info, item.id, item.fields)
    if rows:
        session.execute(sa.insert(_values), rows)


def store_many(session: Session, rows: Iterable[dict[str, Any]]) -> None:
    """Insert the rows of items added in bulk (:func:`rows_of` of each)."""
    rows = list(rows)
    if rows:
        session.execute(sa.insert(_values), rows)


def _meeting(filterable: Filterable, operator: str, value: Any) -> sa.Select[Any]:
    """The side table's rows of values of ``filterable`` that meet ``operator`` ``value``
    (a bind parameter or a value)."""
    column = _values.c[filterable.column]
    return sa.select(_values.c.item_id).where(
        _values.c.name == filterable.name, _OPERATORS[operator](column, value)
    )


def matching(filterable: Filterable, operator: str, value: Any) -> sa.ColumnElement[bool]:
    """Items with a value of ``filterable`` that meets ``operator`` ``value``, as a
    condition on the item's row: the set of them, read from one index range."""
    return Item.id.in_(_meeting(filterable, operator, value))


def met_by_item(filterable: Filterable, operator: str, value: Any) -> sa.ColumnElement[bool]:
    """:func:`matching` checked item by item: the item's own values of ``filterable``,
    looked up in the index of (name, item_id, number_value), so a list that reads items
    in another index's order stops after its page instead of reading every match first.
    A scalar subquery, as the permission conditions are (labvault.items.access says why)."""
    found = _meeting(filterable, operator, value).where(_values.c.item_id == Item.id)
    return found.limit(1).scalar_subquery().is_not(None)


def has_values(
    filterable: Filterable, operator: str, value: Any, count: int
) -> sa.ColumnElement[bool]:
    """Whether at least ``count`` values of ``filterable`` meet ``operator`` ``value``:
    read from the index of (name, value) no further than that."""
    counted = _meeting(filterable, operator, value).limit(1).offset(count - 1)
    return counted.scalar_subquery().is_not(None)


def sorted_by(query: sa.Select[Any], filterable: Filterable, *, descending: bool) -> sa.Select[Any]:
    """``query`` (of items) read in the order of the item's value of ``filterable``
    through the side table's index, the item's id breaking ties in the same direction;
    items without a value are not listed."""
    sort_values = _values.alias("sort_values")
    column = sort_values.c[filterable.column]
    order = [column.desc(), Item.id.desc()] if descending else [column.asc(), Item.id.asc()]
    return (
        query.join(sort_values, sort_values.c.item_id == Item.id)
        .where(sort_values.c.name == filterable.name, column.is_not(None))
        .order_by(*order)
    )
