"""Dumping with a marshmallow schema through a plan made once per schema, not per value.

marshmallow's ``Schema.dump`` reaches each value through five calls (``Field.serialize``,
``Schema.get_attribute``, ``get_value``, ...) and converts it through the field's
``_serialize``; a page of 20 item summaries is ~200 such visits, about 1 ms of Python, more
than its SQL. A :class:`DumpPlan` knows once, for each field of a schema instance, its key,
where its value comes from and how it is converted: a value that already has the type
the field would give it (``str`` for a String, ``int`` for an Integer, ``None``) is taken
as it is; any other goes through the field's own ``_serialize``, and nested schemas are
planned too. So the answer is marshmallow's, value for value.

What a plan cannot follow exactly is left to marshmallow: a schema with dump hooks or
its own ``get_attribute`` is dumped by marshmallow as a whole, and a field with a
``dump_default``, a dotted ``attribute`` or no attribute to read (a Method or Function
field) by its own ``serialize``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import marshmallow as ma
from marshmallow import fields
from marshmallow.decorators import POST_DUMP, PRE_DUMP

#: Fields whose ``_serialize`` returns a value of this exact type (or None) as it is.
_AS_IS: dict[type[ma.fields.Field], type] = {
    fields.String: str,
    fields.Integer: int,
    fields.Float: float,
    fields.Boolean: bool,
}
#: Field classes whose ``_serialize`` answers None for None.
_NONE_FOR_NONE = (*_AS_IS, fields.Date, fields.DateTime, fields.List, fields.Nested, fields.Dict)

#: A field's conversion: its value and the object it was read from, to what is dumped.
Convert = Callable[[Any, Any], Any]


def _value_of(obj: Any, key: str) -> Any:
    """marshmallow's ``get_value`` for a key without dots: ``obj[key]``, else the
    attribute (a missing one is ``missing``)."""
    if type(obj) is dict:  # the common case, told apart in one step
        value = obj.get(key, ma.missing)
        return value if value is not ma.missing else getattr(obj, key, ma.missing)
    if not hasattr(obj, "__getitem__"):
        return getattr(obj, key, ma.missing)
    try:
        return obj[key]
    except (KeyError, IndexError, TypeError, AttributeError):
        return getattr(obj, key, ma.missing)


def _converter(field: ma.fields.Field, attr: str) -> Convert:
    """How a plan converts the values of ``field`` (bound to its schema as ``attr``)."""
    kind = type(field)
    serialize = field._serialize
    if kind is fields.Nested:
        nested, many = field.schema, bool(field.schema.many or field.many)
        plan = DumpPlan.of(nested)
        if plan is not None:
            dump = plan.dump
            return lambda value, _obj: None if value is None else dump(value, many=many)
    elif kind is fields.List and isinstance(field, fields.List):
        inner = _converter(field.inner, attr)
        return lambda value, obj: None if value is None else [inner(each, obj) for each in value]
    elif kind in _AS_IS and not getattr(field, "as_string", False):
        plain = _AS_IS[kind]

        def convert(value: Any, obj: Any) -> Any:
            if value is None or type(value) is plain:
                return value
            return serialize(value, attr, obj)

        return convert
    if kind in _NONE_FOR_NONE:
        return lambda value, obj: None if value is None else serialize(value, attr, obj)
    return lambda value, obj: serialize(value, attr, obj)


def _plannable(field: ma.fields.Field, attr: str) -> bool:
    """Whether a plan reads and converts this field as ``Field.serialize`` would."""
    key = field.attribute or attr
    return field._CHECK_ATTRIBUTE and field.dump_default is ma.missing and "." not in key


class DumpPlan:
    """How one schema instance dumps an object: for each field, the key it is dumped
    under, the key its value is read from, and its conversion (or, for a field the plan
    cannot follow, the field's own ``serialize``)."""

    def __init__(self, schema: ma.Schema) -> None:
        self._fields: list[tuple[str, str, Convert | None, ma.fields.Field]] = []
        for attr, field in schema.dump_fields.items():
            key = field.data_key if field.data_key is not None else attr
            if _plannable(field, attr):
                self._fields.append((key, field.attribute or attr, _converter(field, attr), field))
            else:
                self._fields.append((key, attr, None, field))
        self._get_attribute = schema.get_attribute

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

    def dump_one(self, obj: Any) -> dict[str, Any]:
        dumped: dict[str, Any] = {}
        for key, source, convert, field in self._fields:
            if convert is None:
                value = field.serialize(source, obj, accessor=self._get_attribute)
            else:
                value = _value_of(obj, source)
                if value is not ma.missing:
                    value = convert(value, obj)
            if value is not ma.missing:
                dumped[key] = value
        return dumped

    def dump(self, obj: Any, *, many: bool) -> Any:
        if many and obj is not None:
            return [self.dump_one(each) for each in obj]
        return self.dump_one(obj)  # as marshmallow: None with many is dumped as one object


class PlannedDump(ma.Schema):
    """A schema whose ``dump`` follows its :class:`DumpPlan`: marshmallow's answer, with
    a fraction of its Python."""

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        plan = DumpPlan.of(self)
        if plan is None:
            return super().dump(obj, many=many)
        return plan.dump(obj, many=self.many if many is None else bool(many))
