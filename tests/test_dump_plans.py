"""Answers dumped through a plan (labvault.dumping) are marshmallow's, byte for byte.

Item answers skip marshmallow's per-field machinery (issue 26: it was a quarter of a
list page's Python); what a client reads must not change. Each item type, with every
field it has, is read through the API and compared with marshmallow's own dump of the
same item; a list page with the dump of the ORM entities the list used to read; and
schemas with what a plan leaves to marshmallow (hooks, defaults, methods, renamed or
dotted attributes) dump as marshmallow does.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import marshmallow as ma
import pytest
import sqlalchemy as sa
from labvault.auth.models import User
from labvault.dumping import DumpPlan, PlannedDump
from labvault.items import service, types
from labvault.items.lists import SUMMARY_ONLY
from labvault.items.models import Item
from labvault.items.schemas import ItemSchema, ItemSummarySchema
from labvault.items.types import builtin_types
from labvault.web.session import get_session

from tests.records import create_item
from tests.test_items import CELL, EQUIPMENT, SAMPLE, STARTING_MATERIAL


def marshmallow_answer(app: Any, schema: ma.Schema, data: Any) -> bytes:
    """The body Flask answers for ``data`` dumped by marshmallow itself."""
    return bytes(app.json.response(ma.Schema.dump(schema, data)).get_data())


def every_type(client: Any, user: Any, other: Any) -> list[dict[str, Any]]:
    """One item of each type with every field of its type, linked to others."""
    shared = {"collection_id": "films", "shares": [{"user_id": other.id, "permission": "read"}]}
    assert client.post("/collections", json=shared, headers=user.headers).status_code == 201
    water = create_item(
        client,
        user,
        **STARTING_MATERIAL,
        attributes={"Lot": "A-17", "Grade": "ACS"},
        creators=[user.id, other.id],
    )
    sample = create_item(
        client,
        user,
        **SAMPLE,
        synthesis_constituents=[
            {"item": water["refcode"], "quantity": 2.5, "unit": "mL"},
            {"name": "Fe(NO3)3", "quantity": 1, "unit": "g"},
        ],
        collections=["films"],
    )
    cell = create_item(
        client,
        user,
        **CELL,
        positive_electrode=[{"item": sample["refcode"], "quantity": 12.5, "unit": "mg"}],
        negative_electrode=[{"name": "Li metal"}],
        electrolyte=[{"name": "1 M LiPF6 in EC/DMC", "quantity": 50, "unit": "uL"}],
        relationships=[{"refcode": water["refcode"], "relation": "other"}],
    )
    # some fields given as null, others not at all
    bare = create_item(client, user, type="starting_material", cas=None, molar_mass=None)
    return [water, sample, cell, create_item(client, user, **EQUIPMENT), bare]


def test_every_item_type_is_answered_as_marshmallow_dumps_it(
    shared_app, labvault_make_user, subtests
):
    client = shared_app.test_client()
    alice, bob = labvault_make_user(shared_app), labvault_make_user(shared_app)
    for created in every_type(client, alice, bob):
        with subtests.test(type=created["type"]):
            # each item is dumped with its type's answer schema, through its plan
            schema = types.current().info(created["type"]).answer
            assert isinstance(schema, ItemSchema)
            assert DumpPlan.of(schema) is not None  # through the plan, not marshmallow
            response = client.get(f"/items/{created['refcode']}", headers=alice.headers)
            assert response.status_code == 200
            with shared_app.test_request_context():
                session = get_session()
                reader = session.get(User, alice.id)
                row, related = service.read_item(session, reader, created["refcode"])
                item = service.item_to_dict(session, row, reader, related)
                # an item is answered with its type's schema: the common fields and its own
                answer = builtin_types().info(created["type"]).answer
                assert DumpPlan.of(answer) is not None
                expected = marshmallow_answer(shared_app, answer, item)
            assert response.get_data() == expected


def test_a_list_page_is_answered_as_marshmallow_dumped_its_entities(shared_app, labvault_make_user):
    client = shared_app.test_client()
    alice, bob = labvault_make_user(shared_app), labvault_make_user(shared_app)
    every_type(client, alice, bob)
    response = client.get("/items?page_size=100", headers=alice.headers)
    assert response.status_code == 200 and len(response.json) == 5
    with shared_app.app_context():
        # what the list read before: ORM entities of the summary's columns
        entities = get_session().scalars(
            sa.select(Item).options(*SUMMARY_ONLY).order_by(Item.updated_at.desc(), Item.id.desc())
        )
        expected = marshmallow_answer(shared_app, ItemSummarySchema(many=True), list(entities))
    assert response.get_data() == expected


class Reference(ma.Schema):
    name = ma.fields.String()


class Hooked(PlannedDump):
    name = ma.fields.String()

    @ma.post_dump
    def _shout(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {**data, "name": data["name"].upper()}


class Everything(PlannedDump):
    """Fields a plan converts, and those it leaves to marshmallow."""

    text = ma.fields.String()
    number = ma.fields.Integer()
    quoted = ma.fields.Integer(as_string=True)
    ratio = ma.fields.Float()
    flag = ma.fields.Boolean()
    day = ma.fields.Date()
    moment = ma.fields.DateTime()
    renamed = ma.fields.String(data_key="shown_as")
    read_from = ma.fields.String(attribute="source")
    dotted = ma.fields.String(attribute="inner.name")
    defaulted = ma.fields.String(dump_default="none given")
    method = ma.fields.Method("_twice")
    words = ma.fields.List(ma.fields.String())
    nested = ma.fields.Nested(Reference)
    many = ma.fields.List(ma.fields.Nested(Reference))
    hooked = ma.fields.Nested(Hooked, allow_none=True)
    plucked = ma.fields.Pluck(Reference, "name", many=True)
    mapping = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    secret = ma.fields.String(load_only=True)

    def _twice(self, obj: Any) -> Any:
        return 2 * (obj["number"] if isinstance(obj, dict) else obj.number)


VALUES: dict[str, Any] = {
    "text": 12,  # not text: converted as marshmallow converts it
    "number": "7",
    "quoted": 5,
    "ratio": 3,
    "flag": 1,
    "day": dt.date(2024, 2, 29),
    "moment": dt.datetime(2024, 2, 29, 12, 30, tzinfo=dt.UTC),
    "renamed": "r",
    "source": "s",
    "inner": {"name": "dotted"},
    "words": ["a", 2, None],
    "nested": {"name": "n"},
    "many": [{"name": "m"}, SimpleNamespace(name=3)],
    "hooked": {"name": "quiet"},
    "plucked": [{"name": "p"}],
    "mapping": {"a": "1", "b": 2.0},
    "secret": "never dumped",
}


@pytest.mark.parametrize(
    "obj",
    [
        VALUES,
        SimpleNamespace(**VALUES),
        {name: None for name in VALUES} | {"number": 0, "inner": {}},
        {"number": 1},  # most absent: left out of the answer
        {"text": "plain", "number": 3, "ratio": 0.5, "flag": False, "number_alone": 1},
    ],
    ids=["dict", "object", "nulls", "absent", "plain"],
)
def test_a_plan_dumps_what_marshmallow_dumps(obj):
    schema = Everything()
    assert schema.dump(obj) == ma.Schema.dump(schema, obj)
    assert schema.dump([obj, obj], many=True) == ma.Schema.dump(schema, [obj, obj], many=True)


def test_a_schema_with_hooks_is_dumped_by_marshmallow_and_none_as_marshmallow_does():
    assert DumpPlan.of(Hooked()) is None
    assert Hooked().dump({"name": "quiet"}) == {"name": "QUIET"}
    plain = type("Plain", (PlannedDump,), {"name": ma.fields.String()})(many=True)
    assert plain.dump(None) == ma.Schema.dump(plain, None)  # None is dumped as one object
