"""The item types a server has: the catalogue made of the enabled plugins' answers to
``labvault_item_types`` (the core's four types come through the same hook), and what the
items code derives from each type once: its input schema, its answer, its date fields,
its derived links and its filterable fields.

A process runs one server, and an item's type says how all of the items code reads and
writes it, so the catalogue is the process's, as its models are: :func:`use` makes the one
a runtime was started with current (each app makes its own current again when it serves
a request, so that tests may hold several apps), :func:`current` answers it. Before any
runtime has started, the current catalogue is the core's own types.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from labvault.errors import Conflict
from labvault.plugin import ItemType, SearchWeight

#: An item type's name: what ``items.type`` holds.
TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,19}$")


@dataclass(frozen=True)
class Filterable:
    """A field lists filter on and sort by: where its values are kept and how a query
    argument is read."""

    name: str
    #: "number" (numbers; booleans as 0 and 1) or "text" (strings; dates as ISO text,
    #: which sorts as dates)
    kind: str
    #: Whether the field holds a list (a row per element; not sortable).
    many: bool
    #: The field of one value, which reads a query argument.
    field: ma.fields.Field

    @property
    def column(self) -> str:
        return f"{self.kind}_value"

    def stored(self, value: Any) -> Any:
        """The side table's value of one JSON value of the field."""
        if self.kind == "number":
            return float(value)
        return str(value)[:255]

    def argument(self, text: str) -> Any:
        """A query argument read as the field reads a value (ValidationError if it
        cannot be), in the form it is stored."""
        loaded = self.field.deserialize(text)
        if isinstance(loaded, dt.date | dt.datetime):
            loaded = loaded.isoformat()
        return self.stored(loaded)


def _filterable(name: str, field: ma.fields.Field) -> Filterable | None:
    many = isinstance(field, fields.List)
    one = field.inner if isinstance(field, fields.List) else field
    # a query argument is read by the kind of the field, not its checks: a value the
    # field would refuse matches nothing
    reader: ma.fields.Field
    if isinstance(one, fields.Boolean):
        kind, reader = "number", fields.Boolean()
    elif isinstance(one, fields.Number):
        kind, reader = "number", fields.Float(allow_nan=False)
    elif isinstance(one, fields.DateTime):
        kind, reader = "text", fields.DateTime()
    elif isinstance(one, fields.Date):
        kind, reader = "text", fields.Date()
    elif isinstance(one, fields.String):
        kind, reader = "text", fields.String()
    else:
        return None
    return Filterable(name, kind, many, reader)


def argument_schema(filterable: Filterable) -> dict[str, Any]:
    """The JSON Schema of a query argument filtering on ``filterable``."""
    if isinstance(filterable.field, fields.Boolean):
        return {"type": "boolean"}
    if filterable.kind == "number":
        return {"type": "number"}
    if isinstance(filterable.field, fields.Date | fields.DateTime):
        date_format = "date" if type(filterable.field) is fields.Date else "date-time"
        return {"type": "string", "format": date_format}
    return {"type": "string", "minLength": 1, "maxLength": 255}


class TypeInfo:
    """What the items code derives from one item type, once."""

    def __init__(self, item_type: type[ItemType]) -> None:
        from labvault.items.schemas import CommonFields, ItemSchema

        self.type = item_type
        self.name = item_type.name
        self.lab_wide = item_type.lab_wide
        own = item_type.FieldsSchema()
        self.field_names = frozenset(own.fields)
        self.date_fields = frozenset(
            name for name, field in own.fields.items() if isinstance(field, fields.Date)
        )
        self.derived_links: Mapping[str, str] = dict(item_type.derived_links)
        self.title_fields = tuple(
            f for f, weight in item_type.searched.items() if weight == SearchWeight.TITLE
        )
        self.body_fields = tuple(
            f for f, weight in item_type.searched.items() if weight != SearchWeight.TITLE
        )
        self.filterable: dict[str, Filterable] = {}
        for name in item_type.filterable:
            found = _filterable(name, own.fields[name]) if name in own.fields else None
            if found is not None:
                self.filterable[name] = found
        # named after the type (unique), not its class: the API document's components
        title = "".join(part.title() for part in self.name.split("_"))
        item_id: dict[str, Any] = {}
        if item_type.identifier_pattern:
            item_id["item_id"] = fields.String(
                allow_none=True,
                validate=validate.Regexp(
                    item_type.identifier_pattern,
                    # marshmallow formats the message: the pattern goes in as {regex}, so
                    # that one with braces ("[0-9]{3,}") is not read as a placeholder
                    error=f"an item_id of a {self.name} must match {{regex}}",
                ),
                metadata={"pattern": item_type.identifier_pattern},
            )
        #: POST and PATCH: the common fields and the type's own, its statuses only.
        self.input_schema: type[ma.Schema] = type(
            f"{title}Input",
            (CommonFields, item_type.FieldsSchema),
            {"status": fields.String(validate=validate.OneOf(item_type.statuses)), **item_id},
        )
        self.input = self.input_schema()
        #: The type's own fields alone, loaded as a PATCH gives them.
        self.fields_only = item_type.FieldsSchema()
        #: POST /items of this type: documented one per type.
        self.create_schema: type[ma.Schema] = type(
            f"{title}Create",
            (self.input_schema,),
            {
                "type": fields.String(required=True, validate=validate.OneOf([self.name])),
                "__doc__": f"POST /items for a {item_type.shown_name().lower()}",
            },
        )
        #: The answer of an item of this type (its ``type`` documented as its name alone, so
        #: that an answer is valid under one of the types' schemas, as ``oneOf`` says).
        self.answer_schema: type[ma.Schema] = type(
            f"{title}Item",
            (ItemSchema, item_type.FieldsSchema),
            {
                # documented as this type alone: each answer matches one schema of a oneOf
                "type": fields.String(validate=validate.OneOf([self.name])),
                "__doc__": f"A {item_type.shown_name().lower()}",
            },
        )
        self.answer = self.answer_schema()

    def initial_status(self) -> str:
        return self.type.initial_status()

    def described(self) -> dict[str, Any]:
        """What a client learns of the type (``GET /item-types``), its schema aside."""
        typ = self.type
        return {
            "name": self.name,
            "display_name": typ.shown_name(),
            "description": typ.description,
            "lab_wide": typ.lab_wide,
            "statuses": list(typ.statuses),
            "default_status": typ.initial_status(),
            "identifier_pattern": typ.identifier_pattern,
            "filterable": [
                {"name": f.name, "kind": f.kind, "many": f.many, "sortable": not f.many}
                for f in self.filterable.values()
            ],
            "list_arguments": list(typ.list_arguments),
            "searched": [
                {"name": name, "weight": str(weight)} for name, weight in typ.searched.items()
            ],
            "derived_links": dict(self.derived_links),
        }


class ItemTypes:
    """The enabled item types, by name."""

    def __init__(self, item_types: Mapping[str, type[ItemType]]) -> None:
        self.types = dict(item_types)
        self._infos: dict[str, TypeInfo] = {}
        #: Names of the lab-wide types, sorted (the SQL that names them is cached by it).
        self.lab_wide = tuple(sorted(n for n, t in self.types.items() if t.lab_wide))
        #: ``GET /items?F=v`` arguments: F -> (type name, field).
        self.list_arguments = {
            argument: (name, argument)
            for name, typ in self.types.items()
            for argument in typ.list_arguments
        }

    @functools.cached_property
    def filterable(self) -> dict[str, Filterable]:
        """Every type's filterable fields, by name (one name is one kind in every type)."""
        return {
            name: filterable
            for type_name in sorted(self.types)
            for name, filterable in self.info(type_name).filterable.items()
        }

    def __contains__(self, name: object) -> bool:
        return name in self.types

    def __iter__(self) -> Any:
        return iter(self.types)

    def info(self, name: str) -> TypeInfo:
        """What is derived from the enabled type ``name`` (KeyError if not enabled)."""
        found = self._infos.get(name)
        if found is None:
            found = self._infos[name] = TypeInfo(self.types[name])
        return found

    def writable_info(self, name: str) -> TypeInfo:
        """:meth:`info`, or Conflict for an item of a type no enabled plugin provides:
        such items are kept and read, never changed."""
        if name not in self.types:
            raise Conflict(
                f"items of type {name!r} are read-only: no enabled plugin provides that "
                "type (enable it again to change them)"
            )
        return self.info(name)


def problems_of(item_types: Iterable[type[ItemType]], owners: Mapping[Any, str]) -> list[str]:
    """What does not fit in each item type's declarations, one line each naming the type
    and its plugin: a startup problem."""
    from labvault.items.schemas import CommonFields

    common = set(CommonFields().fields) | {"type"}
    problems: list[str] = []
    arguments: dict[str, str] = {}
    kinds: dict[str, tuple[str, str, str, bool]] = {}
    for typ in item_types:
        where = f"plugin {owners.get(typ, '?')}: item type {typ.name!r}"
        found: list[str] = []
        if not TYPE_NAME.match(typ.name):
            found.append("its name must be 1 to 20 lowercase letters, digits or '_'")
        if not (isinstance(typ.FieldsSchema, type) and issubclass(typ.FieldsSchema, ma.Schema)):
            problems.append(f"{where}: FieldsSchema is not a marshmallow Schema class")
            continue
        own = typ.FieldsSchema().fields
        clashes = sorted(common & set(own))
        if clashes:
            found.append(f"fields named like those every item has: {', '.join(clashes)}")
        if not typ.statuses or not all(isinstance(s, str) and s for s in typ.statuses):
            found.append("statuses must name at least one status")
        elif typ.default_status is not None and typ.default_status not in typ.statuses:
            found.append(f"default_status {typ.default_status!r} is not one of its statuses")
        for what, names in (
            ("searched", typ.searched),
            ("filterable", typ.filterable),
            ("derived_links", typ.derived_links),
        ):
            missing = sorted(set(names) - set(own))
            if missing:
                found.append(f"{what} names fields it does not have: {', '.join(missing)}")
        for name in typ.filterable:
            filterable = _filterable(name, own[name]) if name in own else None
            if name in own and filterable is None:
                found.append(
                    f"filterable field {name!r} is not a string, number, date, boolean "
                    "or a list of them"
                )
            if filterable is None:
                continue
            shape = (filterable.kind, type(filterable.field).__name__, filterable.many)
            other = kinds.setdefault(name, (typ.name, *shape))
            if other[1:] != shape:
                found.append(
                    f"filterable field {name!r} is not of the kind type {other[0]} "
                    "filters it as (a filter or sort by a field reads it in every type)"
                )
        for argument in typ.list_arguments:
            if argument not in typ.filterable:
                found.append(f"list argument {argument!r} is not one of its filterable fields")
            elif argument in arguments:
                found.append(f"list argument {argument!r} is taken by type {arguments[argument]}")
            else:
                arguments[argument] = typ.name
        if typ.identifier_pattern is not None:
            try:
                re.compile(typ.identifier_pattern)
            except re.error as exc:
                found.append(f"identifier_pattern is not a regular expression: {exc}")
        problems += [f"{where}: {line}" for line in found]
    return problems


@functools.cache
def builtin_types() -> ItemTypes:
    """The core's own four types, as a server without plugins has them."""
    from labvault.builtins import item_cell, item_equipment, item_sample, item_starting_material

    modules = (item_sample, item_starting_material, item_cell, item_equipment)
    return ItemTypes({t.name: t for m in modules for t in m.labvault_item_types()})


_current: ItemTypes | None = None


def use(catalogue: ItemTypes) -> None:
    """Make ``catalogue`` the process's item types."""
    global _current
    _current = catalogue


def keep_current(catalogue: ItemTypes) -> None:
    """:func:`use` ``catalogue`` unless it is current already (before each request)."""
    if _current is not catalogue:
        use(catalogue)


def current() -> ItemTypes:
    """The process's item types (the core's own until a runtime starts)."""
    return _current if _current is not None else builtin_types()
