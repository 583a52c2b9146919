"""Item schemas: the common fields, each type's own fields and status vocabulary.

Requests are validated with the schema of the item's ``type``. POST /items is documented
as one body per type (a oneOf told apart by ``type``); PATCH bodies and answers list every
field of every type, since the item's ``type`` says which apply.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from labvault.dumping import PlannedDump
from labvault.items.models import ItemType, Relation
from labvault.schemas import IDENTIFIER_ERROR, IDENTIFIER_PATTERN, Id, UserRefSchema
from labvault.schemas import Strict as _Strict

STATUSES: dict[str, tuple[str, ...]] = {
    ItemType.SAMPLE: ("planned", "synthesized", "characterized", "consumed", "discarded"),
    ItemType.STARTING_MATERIAL: ("available", "low", "empty", "ordered", "disposed"),
    ItemType.CELL: ("planned", "assembled", "cycling", "completed", "failed", "disassembled"),
    ItemType.EQUIPMENT: ("operational", "maintenance", "broken", "retired"),
}
CELL_FORMATS = ("coin", "pouch", "swagelok", "cylindrical", "in_situ", "other")
SORT_KEYS = ("updated_at", "created_at", "name", "item_id", "refcode", "date")

_text = validate.Length(max=500)
_long_text = validate.Length(max=200_000)


def _short(**kwargs: Any) -> fields.String:
    return fields.String(validate=_text, **kwargs)


def _valid_cas(value: str) -> None:
    """CAS registry numbers: digits-digits-check digit, with a valid check digit."""
    match = re.fullmatch(r"(\d{2,7})-(\d{2})-(\d)", value)
    if match is None:
        raise ma.ValidationError("not a CAS number (like 7732-18-5)")
    digits = (match.group(1) + match.group(2))[::-1]
    if sum(i * int(d) for i, d in enumerate(digits, 1)) % 10 != int(match.group(3)):
        raise ma.ValidationError("CAS number check digit is wrong")


class ConstituentSchema(_Strict):
    """An ingredient or component: another item (by refcode) or an inline substance name."""

    item = fields.String(
        allow_none=True, load_default=None, metadata={"description": "refcode of an item"}
    )
    name = fields.String(allow_none=True, load_default=None, validate=_text)
    quantity = fields.Float(allow_none=True, load_default=None, validate=validate.Range(min=0))
    unit = fields.String(load_default="", validate=validate.Length(max=20))

    @ma.validates_schema
    def _one_of_item_or_name(self, data: Mapping[str, Any], **_: Any) -> None:
        if bool(data.get("item")) == bool(data.get("name")):
            raise ma.ValidationError("give either item (a refcode) or name", "_schema")


class RelationshipInputSchema(_Strict):
    refcode = fields.String(required=True, validate=validate.Length(max=17))
    relation = fields.String(required=True, validate=validate.OneOf([r.value for r in Relation]))
    description = fields.String(load_default="", validate=_text)


class CommonFields(_Strict):
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


class SampleFields(ma.Schema):
    chemical_formula = _short(allow_none=True)
    synthesis_description = fields.String(allow_none=True, validate=_long_text)
    synthesis_constituents = fields.List(fields.Nested(ConstituentSchema))


class StartingMaterialFields(ma.Schema):
    barcode = fields.String(allow_none=True, validate=validate.Length(max=100))
    cas = fields.String(allow_none=True, validate=_valid_cas)
    chemical_formula = _short(allow_none=True)
    smiles = fields.String(allow_none=True, validate=validate.Length(max=2000))
    molar_mass = fields.Float(
        allow_none=True,
        validate=validate.Range(min=0, min_inclusive=False),
        # apispec documents the bound but not that it is exclusive
        metadata={"description": "g/mol", "exclusiveMinimum": True},
    )
    supplier = _short(allow_none=True)
    location = _short(allow_none=True)
    container_size = fields.Float(allow_none=True, validate=validate.Range(min=0))
    container_unit = fields.String(allow_none=True, validate=validate.Length(max=20))
    chemical_purity = fields.String(allow_none=True, validate=validate.Length(max=100))
    full_percent = fields.Float(allow_none=True, validate=validate.Range(min=0, max=100))
    ghs_hazard_codes = fields.List(
        fields.String(validate=validate.Regexp(r"^(EU)?H\d{3}[A-Za-z]{0,2}$")),
        metadata={"description": "e.g. H225, H319, EUH066"},
    )
    date_acquired = fields.Date(allow_none=True)
    date_opened = fields.Date(allow_none=True)
    attributes = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=200)),
        values=fields.String(validate=validate.Length(max=2000)),
        allow_none=True,
        metadata={"description": "other properties, e.g. columns of an inventory export"},
    )


class CellFields(ma.Schema):
    cell_format = fields.String(allow_none=True, validate=validate.OneOf(CELL_FORMATS))
    positive_electrode = fields.List(fields.Nested(ConstituentSchema))
    negative_electrode = fields.List(fields.Nested(ConstituentSchema))
    electrolyte = fields.List(fields.Nested(ConstituentSchema))
    characteristic_mass = fields.Float(
        allow_none=True, validate=validate.Range(min=0), metadata={"description": "mg"}
    )


class EquipmentFields(ma.Schema):
    manufacturer = _short(allow_none=True)
    model = _short(allow_none=True)
    serial_numbers = _short(allow_none=True)
    location = _short(allow_none=True)
    contact = _short(allow_none=True)


TYPE_FIELDS: dict[str, type[ma.Schema]] = {
    ItemType.SAMPLE: SampleFields,
    ItemType.STARTING_MATERIAL: StartingMaterialFields,
    ItemType.CELL: CellFields,
    ItemType.EQUIPMENT: EquipmentFields,
}
#: Fields whose values are lists of constituents, and the relationship origin they give.
CONSTITUENT_FIELDS = {
    "synthesis_constituents": "synthesis",
    "positive_electrode": "cell",
    "negative_electrode": "cell",
    "electrolyte": "cell",
}
#: Type fields holding dates, which the JSON column keeps as ISO text.
DATE_FIELDS = frozenset(
    name
    for schema in TYPE_FIELDS.values()
    for name, field in schema().fields.items()
    if isinstance(field, fields.Date)
)
#: Type-specific text that full-text search looks at.
SEARCHED_FIELDS = (
    "cas",
    "barcode",
    "chemical_formula",
    "supplier",
    "location",
    "manufacturer",
    "model",
    "serial_numbers",
    "smiles",
    "synthesis_description",
)


def _input_schema(item_type: str) -> type[ma.Schema]:
    return type(
        f"{item_type.title().replace('_', '')}Input",
        (CommonFields, TYPE_FIELDS[item_type]),
        {"status": fields.String(validate=validate.OneOf(STATUSES[item_type]))},
    )


INPUT_SCHEMAS = {item_type: _input_schema(item_type) for item_type in TYPE_FIELDS}
#: One instance of each, made once: a schema is reusable, and making one costs more than
#: the validation of a body (an import validates thousands).
INPUT_VALIDATORS = {item_type: schema() for item_type, schema in INPUT_SCHEMAS.items()}
#: The names of each type's own fields.
TYPE_FIELD_NAMES: dict[str, frozenset[str]] = {
    item_type: frozenset(schema().fields) for item_type, schema in TYPE_FIELDS.items()
}


def validate_item_input(item_type: str, data: Any) -> dict[str, Any]:
    """Validate a request body with the schema of ``item_type`` (422 errors as a dict)."""
    if not isinstance(data, dict):
        raise ma.ValidationError({"_schema": ["the body must be a JSON object"]})
    body = {k: v for k, v in data.items() if k != "type"}
    loaded: dict[str, Any] = INPUT_VALIDATORS[item_type].load(body)
    return loaded


class _AllTypeFields(SampleFields, StartingMaterialFields, CellFields, EquipmentFields):
    """Every type-specific field, for the documentation of requests and responses."""


def _create_schema(item_type: str) -> type[ma.Schema]:
    return type(
        f"{item_type.title().replace('_', '')}CreateSchema",
        (INPUT_SCHEMAS[item_type],),
        {
            "type": fields.String(required=True, validate=validate.OneOf([item_type])),
            "__doc__": f"POST /items for a {item_type.replace('_', ' ')}",
        },
    )


#: POST /items: one schema per type, ``type`` telling which.
CREATE_SCHEMAS = {item_type: _create_schema(item_type) for item_type in TYPE_FIELDS}


class ItemCreateSchema(ma.Schema):
    """POST /items: ``type`` plus the common fields and those of that type.

    Loaded with the schema of the type the body names; documented as their union
    (:data:`ITEM_CREATE_BODY`), so a client sees which fields each type takes.
    """

    def load(self, data: Any, **kwargs: Any) -> Any:
        if not isinstance(data, dict):
            raise ma.ValidationError({"_schema": ["the body must be a JSON object"]})
        item_type = data.get("type")
        # a list or object is unhashable: look it up only once it is known to be text
        if not isinstance(item_type, str) or item_type not in CREATE_SCHEMAS:
            raise ma.ValidationError({"type": [f"must be one of {', '.join(CREATE_SCHEMAS)}"]})
        loaded: dict[str, Any] = CREATE_SCHEMAS[item_type]().load(data)
        return loaded


#: The documented body of POST /items: one schema per type, told apart by ``type``.
ITEM_CREATE_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "oneOf": list(CREATE_SCHEMAS.values()),
                "discriminator": {
                    "propertyName": "type",
                    "mapping": {
                        item_type: f"#/components/schemas/{schema.__name__.removesuffix('Schema')}"
                        for item_type, schema in CREATE_SCHEMAS.items()
                    },
                },
            }
        }
    },
}


class ItemPatchSchema(CommonFields, _AllTypeFields):
    """PATCH /items/<refcode>: any fields of the item's type; ``type`` cannot change.

    Every field is validated here, as the documentation shows it. Which fields and
    statuses the item's own type takes is known once the item is loaded:
    :func:`type_field_problems`. ``type`` may be sent; it must be the item's type.
    """

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


def type_field_problems(item_type: str, data: Mapping[str, Any]) -> dict[str, list[str]]:
    """What of a loaded PATCH body the item's type does not take: fields of other types,
    and a status outside its vocabulary (messages as the type's own schema gives them)."""
    takes = INPUT_VALIDATORS[item_type].fields
    problems = {name: ["Unknown field."] for name in data if name not in takes and name != "type"}
    if "status" in data:
        try:
            takes["status"].deserialize(data["status"])
        except ma.ValidationError as exc:
            problems["status"] = list(exc.messages)
    return problems


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


class ItemSchema(ItemSummarySchema, _AllTypeFields):
    description = fields.String()
    creators = fields.List(fields.Nested(UserRefSchema))
    collections = fields.List(fields.String())
    relationships = fields.List(fields.Nested(RelationshipSchema))
    deleted_at = fields.DateTime(allow_none=True)


class _QueryArgs(_Strict):
    """Query arguments where an unknown name is a 422, not ignored: ``?typ=sample`` must
    not list everything. The pagination arguments are flask-smorest's, read on their own."""

    PAGINATION = frozenset({"page", "page_size"})

    @ma.pre_load
    def _without_pagination(self, data: Mapping[str, Any], **_kwargs: Any) -> dict[str, Any]:
        return {name: data[name] for name in data if name not in self.PAGINATION}


class ItemListArgsSchema(_QueryArgs):
    type = fields.String(validate=validate.OneOf([t.value for t in ItemType]))
    collection = fields.String(
        metadata={
            "description": "collection_id; a collection you may not see lists nothing, "
            "as one that does not exist"
        }
    )
    creator = Id(strict=False, metadata={"description": "user id"})
    status = fields.String()
    barcode = fields.String(
        validate=validate.Length(min=1, max=100),
        metadata={"description": "starting materials with this container barcode"},
    )
    cas = fields.String(
        validate=validate.Length(min=1, max=20),
        metadata={"description": "starting materials with this CAS number"},
    )
    q = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "full-text search (words; prefixes match)"},
    )
    sort = fields.String(
        validate=validate.OneOf([*SORT_KEYS, *(f"-{k}" for k in SORT_KEYS), "relevance"]),
        metadata={
            "description": "field, '-' for descending; default: relevance with q (the "
            "newest first without it)"
        },
    )
    exact = fields.Boolean(
        load_default=False,
        metadata={
            "description": "count every match for an exact total and, with q, rank every "
            "match, not the newest 1,000 (slower on large databases)"
        },
    )


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
