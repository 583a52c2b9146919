"""Dumping with a marshmallow schema through a plan made once per schema, not per value.

marshmallow's ``Schema.dump`` reaches each value through five calls (``Field.serialize``,
``Schema.get_attribute``, ``get_value``, ...) and converts it through the field's
``_serialize``: a page of 20 item summaries took 250 us of Python, more than its SQL on
SQLite. A :class:`DumpPlan` is that work done once per schema instance: a function,
compiled from the schema's fields, that reads each value and converts it in line. A value
that already has the type its field gives (``str`` for a String, ``int`` for an Integer,
``None`` for most fields) is taken as it is, a ``datetime`` or ``date`` of an ISO field
is formatted by its own ``isoformat``; any other value goes through the field's own
``_serialize``, and nested schemas are planned too. So the answer is marshmallow's, value
for value (``tests/test_dump_plans.py`` compares them).

Values are read as marshmallow reads them: an object's attribute, or a mapping's key (its
attribute when the key is absent); an absent value leaves its field out. What a plan
cannot follow exactly is left to marshmallow: a schema with dump hooks, its own
``get_attribute`` or another ``dict_class`` is dumped by marshmallow as a whole, and a
field with a ``dump_default``, a dotted ``attribute`` or no attribute to read (a Method or
Function field) by the field's own ``serialize``.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping
from typing import Any

import marshmallow as ma
from marshmallow import fields
from marshmallow.decorators import POST_DUMP, PRE_DUMP
from marshmallow.utils import get_value

#: Fields whose ``_serialize`` returns a value of this exact type as it is.
_AS_IS: dict[type[ma.fields.Field], type] = {
    fields.String: str,
    fields.Integer: int,
    fields.Float: float,
    fields.Boolean: bool,
}
#: Field classes whose ``_serialize`` answers None for None.
_NONE_FOR_NONE = (*_AS_IS, fields.Date, fields.DateTime, fields.List, fields.Nested, fields.Dict)
#: Formats of Date and DateTime fields that are their type's ``isoformat``.
_ISO = {None, "iso", "iso8601"}
_ISO_TYPES: dict[type[ma.fields.Field], type] = {fields.Date: dt.date, fields.DateTime: dt.datetime}


def _getter(obj: Any) -> Callable[[str, Any], Any]:
    """How values are read from ``obj``: ``get(key, missing)``, then (see the plan's code)
    its attribute when the key gave nothing; marshmallow's ``get_value`` otherwise."""
    if type(obj) is dict or isinstance(obj, Mapping):
        return obj.get
    if not hasattr(obj, "__getitem__"):
        return functools.partial(getattr, obj)
    return functools.partial(get_value, obj)


class _Compiler:
    """The source of a plan's function, and the objects it names."""

    def __init__(self) -> None:
        self.names: dict[str, Any] = {"missing": ma.missing, "_getter": _getter}
        self.lines = ["def dump_one(obj):", "    get = _getter(obj)", "    out = {}"]

    def name(self, value: Any) -> str:
        """A name the function's code reaches ``value`` by."""
        name = f"_{len(self.names)}"
        self.names[name] = value
        return name

    def converted(self, field: ma.fields.Field, attr: str) -> str:
        """An expression of ``value`` (not missing) converted as ``field`` converts it."""
        kind = type(field)
        serialize = self.name(field._serialize)
        general = f"{serialize}(value, {attr!r}, obj)"
        if kind is fields.Nested and isinstance(field, fields.Nested):
            plan = DumpPlan.of(field.schema)
            if plan is not None:
                many = bool(field.schema.many or field.many)
                return f"None if value is None else {self.name(plan.dump)}(value, many={many})"
        elif kind is fields.List and isinstance(field, fields.List):
            inner = self.name(_converter(field.inner, attr))
            return f"None if value is None else [{inner}(each, obj) for each in value]"
        elif kind in _AS_IS and not getattr(field, "as_string", False):
            plain = self.name(_AS_IS[kind])
            return f"value if value is None or type(value) is {plain} else {general}"
        elif kind in _ISO_TYPES and getattr(field, "format", None) in _ISO:
            iso = self.name(_ISO_TYPES[kind])
            return (
                f"None if value is None else value.isoformat() if type(value) is {iso} "
                f"else {general}"
            )
        if kind in _NONE_FOR_NONE:
            return f"None if value is None else {general}"
        return general

    def field(self, schema: ma.Schema, attr: str, field: ma.fields.Field) -> None:
        key = field.data_key if field.data_key is not None else attr
        source = field.attribute or attr
        if not _plannable(field, source):
            serialize = self.name(field.serialize)
            accessor = self.name(schema.get_attribute)
            self.lines += [
                f"    value = {serialize}({attr!r}, obj, accessor={accessor})",
                "    if value is not missing:",
                f"        out[{key!r}] = value",
            ]
            return
        self.lines += [
            f"    value = get({source!r}, missing)",
            "    if value is missing:",
            f"        value = getattr(obj, {source!r}, missing)",
            "    if value is not missing:",
            f"        out[{key!r}] = {self.converted(field, attr)}",
        ]

    def compile(self) -> Callable[[Any], dict[str, Any]]:
        # the source holds the schema's own field names (as literals) and the names of
        # objects made here: no value that is dumped
        namespace = dict(self.names)
        exec("\n".join([*self.lines, "    return out"]), namespace)
        dump_one: Callable[[Any], dict[str, Any]] = namespace["dump_one"]
        return dump_one


def _converter(field: ma.fields.Field, attr: str) -> Callable[[Any, Any], Any]:
    """A function of a value and its object converting as ``field`` does (List items)."""
    compiler = _Compiler()
    source = f"lambda value, obj: {compiler.converted(field, attr)}"
    converter: Callable[[Any, Any], Any] = eval(source, compiler.names)
    return converter


def _plannable(field: ma.fields.Field, source: str) -> bool:
    """Whether a plan reads and converts this field as ``Field.serialize`` would."""
    return field._CHECK_ATTRIBUTE and field.dump_default is ma.missing and "." not in source


class DumpPlan:
    """How one schema instance dumps an object: a function compiled from its fields."""

    def __init__(self, schema: ma.Schema) -> None:
        compiler = _Compiler()
        for attr, field in schema.dump_fields.items():
            compiler.field(schema, attr, field)
        self.dump_one = compiler.compile()

    @staticmethod
    def of(schema: ma.Schema) -> DumpPlan | None:
        """The plan of ``schema`` (made on first use), or None when marshmallow must dump
        it: it has dump hooks or reads values its own way."""
        plan: DumpPlan | None = schema.__dict__.get("_dump_plan")
        if plan is None and "_dump_plan" not in schema.__dict__:
            plannable = (
                not schema._hooks[PRE_DUMP]
                and not schema._hooks[POST_DUMP]
                and type(schema).get_attribute is ma.Schema.get_attribute
                and schema.dict_class is dict
            )
            plan = DumpPlan(schema) if plannable else None
            schema.__dict__["_dump_plan"] = plan
        return plan

    def dump(self, obj: Any, *, many: bool) -> Any:
        if many and obj is not None:
            dump_one = self.dump_one
            return [dump_one(each) for each in obj]
        return self.dump_one(obj)  # as marshmallow: None with many is dumped as one object


class PlannedDump(ma.Schema):
    """A schema whose ``dump`` follows its :class:`DumpPlan`: marshmallow's answer, with
    a fraction of its Python."""

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        plan = DumpPlan.of(self)
        if plan is None:
            return super().dump(obj, many=many)
        return plan.dump(obj, many=self.many if many is None else bool(many))
