"""Item schemas: the fields every item has, and the schemas that hand the rest to the
item's type (:mod:`labvault.items.types` derives each type's own from its plugin).

Requests are validated with the schema of the item's ``type``. POST /items is documented
as one body per enabled type (a oneOf told apart by ``type``), and so is an item's answer.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from labvault.dumping import PlannedDump
from labvault.items.models import Relation
from labvault.schemas import IDENTIFIER_ERROR, IDENTIFIER_PATTERN, Id, UserRefSchema
from labvault.schemas import Strict as _Strict

SORT_KEYS = ("updated_at", "created_at", "name", "item_id", "refcode", "date")
#: ``sort=field.F``: a type's filterable field F (``-field.F`` descending).
FIELD_SORT = re.compile(r"^-?field\.([A-Za-z0-9_]{1,40})$")
#: ``field.F=v`` and ``field.F.gte=v`` (``gt``, ``lte``, ``lt``) query arguments.
FIELD_FILTER = re.compile(r"^field\.([A-Za-z0-9_]{1,40})(?:\.(gte|gt|lte|lt))?$")

_text = validate.Length(max=500)
_long_text = validate.Length(max=200_000)


def _short(**kwargs: Any) -> fields.String:
    return fields.String(validate=_text, **kwargs)


class RelationshipInputSchema(_Strict):
    refcode = fields.String(required=True, validate=validate.Length(max=17))
    relation = fields.String(required=True, validate=validate.OneOf([r.value for r in Relation]))
    description = fields.String(load_default="", validate=_text)


class CommonFields(_Strict):
    """The fields every item has, whatever its type (:mod:`labvault.items.types` adds the
    type's own)."""

    item_id = fields.String(
        allow_none=True,
        validate=validate.Regexp(IDENTIFIER_PATTERN, error=IDENTIFIER_ERROR),
        metadata={
            "description": "omit or send null to derive it from the refcode; taken (409) "
            "when another item you may see has it, free when only items you may not see do"
        },
    )
    name = _short()
    description = fields.String(validate=_long_text, metadata={"description": "Markdown"})
    date = fields.Date(allow_none=True)
    status = fields.String(metadata={"description": "one of the statuses of the item's type"})
    creators = fields.List(
        Id(),
        validate=validate.Length(min=1, error="an item needs at least one creator"),
        metadata={
            "description": "user ids (default: you): yourself, the creators of items you "
            "may read, the people of collections you may read (admins: anyone)"
        },
    )
    collections = fields.List(
        fields.String(validate=validate.Length(max=40)),
        metadata={"description": "collection_ids the item belongs to"},
    )
    relationships = fields.List(fields.Nested(RelationshipInputSchema))


def validate_item_input(item_type: str, data: Any) -> dict[str, Any]:
    """Validate a request body with the schema of ``item_type`` (422 errors as a dict)."""
    from labvault.items import types

    if not isinstance(data, dict):
        raise ma.ValidationError({"_schema": ["the body must be a JSON object"]})
    body = {k: v for k, v in data.items() if k != "type"}
    loaded: dict[str, Any] = types.current().writable_info(item_type).input.load(body)
    return loaded


class ItemCreateSchema(ma.Schema):
    """POST /items: ``type`` plus the common fields and those of that type.

    Loaded with the schema of the type the body names; documented as their union, one
    schema per enabled type told apart by ``type`` (``labvault.web.items``).
    """

    def load(self, data: Any, **kwargs: Any) -> Any:
        from labvault.items import types

        if not isinstance(data, dict):
            raise ma.ValidationError({"_schema": ["the body must be a JSON object"]})
        item_type = data.get("type")
        catalogue = types.current()
        # a list or object is unhashable: look it up only once it is known to be text
        if not isinstance(item_type, str) or item_type not in catalogue:
            raise ma.ValidationError({"type": [f"must be one of {', '.join(catalogue)}"]})
        loaded: dict[str, Any] = catalogue.info(item_type).create_schema().load(data)
        return loaded


class ItemPatchSchema(CommonFields):
    """PATCH /items/<refcode>: any fields of the item's type; ``type`` cannot change.

    The common fields are validated here; the type's own fields are passed on as sent
    and validated with the item's type once the item is loaded
    (:func:`labvault.items.service.update_item`). ``type`` may be sent; it must be the
    item's type.
    """

    class Meta:
        unknown = ma.INCLUDE

    @ma.pre_load
    def _without_type(self, data: Any, **_: Any) -> Any:
        if not isinstance(data, dict):
            raise ma.ValidationError({"_schema": ["the body must be a JSON object"]})
        return {k: v for k, v in data.items() if k != "type"}

    @ma.post_load(pass_original=True)
    def _with_type(self, data: dict[str, Any], original: Any, **_: Any) -> dict[str, Any]:
        if "type" in original:
            data["type"] = original["type"]
        return data


class RelationshipSchema(ma.Schema):
    refcode = fields.String()
    item_id = fields.String()
    relation = fields.String()
    description = fields.String()
    derived = fields.Boolean(metadata={"description": "derived from constituents/components"})


class ItemSummarySchema(PlannedDump):
    """An item in a list. Its answers are dumped through a plan (:mod:`labvault.dumping`):
    a page of them is dumped many times a second."""

    refcode = fields.String()
    item_id = fields.String()
    type = fields.String()
    name = fields.String()
    status = fields.String()
    date = fields.Date(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    version = fields.Integer()


class ItemSchema(ItemSummarySchema):
    """An item: the fields every item has and those of its type, dumped with the answer
    schema of its type (:mod:`labvault.items.types`), with the stored fields the type no
    longer declares as they are. An item of a type no enabled plugin provides, or one
    holding a value its type's answer cannot show (stored before the field was made
    stricter), is shown with its stored fields as they are."""

    description = fields.String()
    creators = fields.List(fields.Nested(UserRefSchema))
    collections = fields.List(fields.String())
    relationships = fields.List(fields.Nested(RelationshipSchema))
    deleted_at = fields.DateTime(allow_none=True)

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        if type(self) is not ItemSchema:  # a type's own answer schema
            return super().dump(obj, many=many)
        if self.many if many is None else many:
            return [self._dump_one(each) for each in obj]
        return self._dump_one(obj)

    def _dump_one(self, item: Mapping[str, Any]) -> Any:
        from labvault.items import types

        catalogue = types.current()
        if item["type"] not in catalogue:
            return self._as_stored(item)
        answer = catalogue.info(item["type"]).answer
        try:
            shown: dict[str, Any] = answer.dump(item)
        except _UNDUMPABLE:  # a value stored before its field was made stricter
            return self._as_stored(item)
        undeclared = item.keys() - answer.fields.keys()
        if undeclared:  # stored fields the type no longer declares: shown as they are
            shown.update((k, item[k]) for k in undeclared)
        return shown

    def _as_stored(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """The fields every item has, and the others as they are stored: an item of a type
        no enabled plugin provides, or one its type's answer cannot show."""
        shown = super().dump(item, many=False)
        stored = {
            k: v.isoformat() if isinstance(v, dt.date) else v
            for k, v in item.items()
            if k not in self.fields
        }
        return {**stored, **shown}


#: What dumping a stored value that its field no longer takes raises (a text in a Float
#: field, a text that is no date in a Date field, a number in a List field).
_UNDUMPABLE = (AttributeError, TypeError, ValueError, ma.ValidationError)


class _QueryArgs(_Strict):
    """Query arguments where an unknown name is a 422, not ignored: ``?typ=sample`` must
    not list everything. The pagination arguments are flask-smorest's, read on their own."""

    PAGINATION = frozenset({"page", "page_size"})

    @ma.pre_load
    def _without_pagination(self, data: Mapping[str, Any], **_kwargs: Any) -> dict[str, Any]:
        return {name: data[name] for name in data if name not in self.PAGINATION}


class ItemListArgsSchema(_QueryArgs):
    """A list's arguments. The filterable fields of item types are filtered as
    ``field.F=v`` (and ``field.F.gte=v``, ``.gt``, ``.lte``, ``.lt``) and sorted as
    ``sort=field.F``; a type's ``list_arguments`` (``barcode``, ``cas``) as ``F=v``, of
    that type unless ``type`` says another. They are read here as the field's kind reads
    them (``field_filters``: (field, operator, value); ``field_sort``: (field,
    descending)). The server's API document lists each
    (:func:`labvault.web.items.document_item_types`)."""

    type = fields.String(
        validate=validate.Length(min=1, max=20), metadata={"description": "an item type"}
    )
    collection = fields.String(
        metadata={
            "description": "collection_id; a collection you may not see lists nothing, "
            "as one that does not exist"
        }
    )
    creator = Id(strict=False, metadata={"description": "user id"})
    status = fields.String()
    q = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "full-text search (words; prefixes match)"},
    )
    sort = fields.String(
        validate=validate.Length(max=60),
        metadata={
            "pattern": rf"^(-?({'|'.join(SORT_KEYS)})|relevance|-?field\.[A-Za-z0-9_]{{1,40}})$",
            "description": "field, '-' for descending: "
            + ", ".join(SORT_KEYS)
            + ", relevance, or field.F (a filterable field of the type given); default: "
            "relevance with q (the newest first without it)",
        },
    )
    exact = fields.Boolean(
        load_default=False,
        metadata={
            "description": "count every match for an exact total and, with q, rank every "
            "match, not the newest 1,000 (slower on large databases)"
        },
    )

    def load(self, data: Any, **kwargs: Any) -> Any:
        from labvault.items import types

        arguments = types.current().list_arguments
        if not isinstance(data, Mapping):
            return super().load(data, **kwargs)
        moved = {name: data[name] for name in data if FIELD_FILTER.match(name) or name in arguments}
        rest = {name: data[name] for name in data if name not in moved}
        loaded: dict[str, Any] = super().load(rest, **kwargs)
        return self._read_field_arguments(loaded, moved)

    def _read_field_arguments(self, data: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
        from labvault.items import types

        catalogue = types.current()
        problems: dict[str, list[str]] = {}
        item_type = data.get("type")
        # items of a type no enabled plugin provides stay readable, so they are listed by
        # their type too (lists.check_type: if there are any); their fields are not read
        if item_type is not None and not types.TYPE_NAME.match(item_type):
            raise ma.ValidationError({"type": [f"must be one of {', '.join(catalogue)}"]})
        filters: list[tuple[str, str, Any]] = []
        for argument, value in raw.items():
            if isinstance(value, list):  # ?a=1&a=2
                value = value[-1]
            match = FIELD_FILTER.match(argument)
            if match is None:  # a type's list argument: that type, unless one is given
                owner, name = catalogue.list_arguments[argument]
                operator = "eq"
                if item_type is None:
                    data["type"] = item_type = owner
            else:
                name, operator = match.group(1), match.group(2) or "eq"
            filterable, problem = _filterable_in(catalogue, name)
            if filterable is None:
                problems[argument] = [problem]
                continue
            if operator != "eq" and filterable.many:
                problems[argument] = ["ranges are for fields of one value"]
                continue
            if not isinstance(value, str) or not value or len(value) > 255:
                problems[argument] = ["give a value of 1 to 255 characters"]
                continue
            try:
                filters.append((name, operator, filterable.argument(value)))
            except ma.ValidationError as exc:
                problems[argument] = list(exc.messages)
        sort = data.get("sort")
        if sort is not None and sort not in SORTS:
            match = FIELD_SORT.match(sort)
            filterable, problem = (
                _filterable_in(catalogue, match.group(1))
                if match
                else (None, f"Must be one of: {', '.join(SORTS)}, or field.F.")
            )
            if match is None or filterable is None:
                problems["sort"] = [problem]
            elif filterable.many:
                problems["sort"] = ["a field holding a list cannot sort a list"]
            else:
                data["field_sort"] = (match.group(1), sort.startswith("-"))
        if problems:
            raise ma.ValidationError(problems)
        if filters:
            data["field_filters"] = tuple(filters)
        return data


#: The sorts by a column.
SORTS = (*SORT_KEYS, *(f"-{k}" for k in SORT_KEYS), "relevance")
#: The range operators of a filter on a field, in words.
RANGES = {"gte": "at least", "gt": "more than", "lte": "at most", "lt": "less than"}


def _filterable_in(catalogue: Any, name: str) -> tuple[Any, str]:
    """The filterable field ``name`` of the item types, or None and why not. A field is
    filtered in every type that has it: with ``type`` another, the list is empty."""
    found = catalogue.filterable.get(name)
    names = ", ".join(sorted(catalogue.filterable)) or "none"
    return found, f"no item type filters and sorts on {name!r} (they do on: {names})"


class GraphArgsSchema(_QueryArgs):
    depth = fields.Integer(load_default=1, validate=validate.Range(min=1, max=5))


class GraphSchema(ma.Schema):
    nodes = fields.List(fields.Nested(ItemSummarySchema))
    edges = fields.List(fields.Dict())


class VersionSchema(ma.Schema):
    number = fields.Integer()
    action = fields.String()
    user = fields.Nested(UserRefSchema, allow_none=True)
    created_at = fields.DateTime()


class VersionDetailSchema(VersionSchema):
    snapshot = fields.Dict(metadata={"description": "the item with its blocks and files"})


class TrashEntrySchema(ItemSummarySchema):
    deleted_at = fields.DateTime()
    deleted_by = fields.Nested(UserRefSchema, allow_none=True)


class FilterableFieldSchema(ma.Schema):
    name = fields.String()
    kind = fields.String(
        metadata={"description": "number or text: how its values compare (dates as text)"}
    )
    many = fields.Boolean(
        metadata={"description": "it holds a list: a filter matches an item by any element"}
    )
    sortable = fields.Boolean(metadata={"description": "sort=field.F takes it (one value)"})


class SearchedFieldSchema(ma.Schema):
    name = fields.String()
    weight = fields.String(
        metadata={"description": "title (ranks with the name) or body (with the description)"}
    )


class ItemTypeSchema(ma.Schema):
    name = fields.String(metadata={"description": "an item's type"})
    display_name = fields.String()
    description = fields.String()
    lab_wide = fields.Boolean(
        metadata={"description": "every active user reads and changes its items"}
    )
    statuses = fields.List(fields.String())
    default_status = fields.String(metadata={"description": "of an item created without one"})
    identifier_pattern = fields.String(
        allow_none=True, metadata={"description": "a regular expression each item_id matches"}
    )
    filterable = fields.List(
        fields.Nested(FilterableFieldSchema),
        metadata={"description": "GET /items?type=NAME&field.F=v (.gte, .gt, .lte, .lt)"},
    )
    list_arguments = fields.List(
        fields.String(), metadata={"description": "filterable fields also taken as ?F=v"}
    )
    searched = fields.List(fields.Nested(SearchedFieldSchema))
    derived_links = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={"description": "field naming other items -> origin of the links made of it"},
    )
    schema = fields.Dict(metadata={"description": "JSON schema of POST /items for this type"})
