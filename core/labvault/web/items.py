"""/items: lab records, found by refcode or item_id, and their graph."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import url_for
from flask.views import MethodView

from labvault import search
from labvault.items import lists, service
from labvault.items.models import Item
from labvault.items.schemas import (
    RANGES,
    SORTS,
    GraphArgsSchema,
    GraphSchema,
    ItemCreateSchema,
    ItemListArgsSchema,
    ItemPatchSchema,
    ItemSchema,
    ItemSummarySchema,
)
from labvault.items.types import ItemTypes, argument_schema
from labvault.web.access import require_user, signed_in_user
from labvault.web.blueprint import Blueprint
from labvault.web.conditional import IF_MATCH_PARAMETER, check_if_match
from labvault.web.session import get_session
from labvault.web.state import settings

blp = Blueprint("items", __name__, url_prefix="/items", description="Lab records")


def item_response(item: Item | service.ItemRow, related: Any = None, *, status: int = 200) -> Any:
    """The item as the signed-in user sees it, with its ETag; ``related``: its links, read
    for the user already (:func:`labvault.items.service.read_item`)."""
    session = get_session()
    return (
        service.item_to_dict(session, item, signed_in_user(), related),
        status,
        {"ETag": service.etag(item)},
    )


def document_item_types(catalogue: ItemTypes, spec: Any) -> None:
    """Document what the server's enabled item types make of /items: the bodies of POST
    /items and the answers about one item, one schema per type told apart by ``type``,
    and the list's ``type``, its types' list arguments and their filterable fields."""
    creates: dict[str, str] = {}
    answers: dict[str, str] = {}
    for name in catalogue:
        info = catalogue.info(name)
        for found, schema in ((creates, info.create_schema), (answers, info.answer_schema)):
            component = schema.__name__
            if component not in spec.components.schemas:
                # each schema's ``type`` takes its one value (a OneOf, an enum here), so an
                # answer whose other fields are all absent matches one schema of the union
                spec.components.schema(component, schema=schema)
            found[name] = f"#/components/schemas/{component}"

    def union(refs: dict[str, str]) -> dict[str, Any]:
        return {
            "oneOf": [{"$ref": ref} for ref in refs.values()],
            "discriminator": {"propertyName": "type", "mapping": refs},
        }

    # apispec keeps the operations it documented by path; the item types are the
    # server's, not the blueprint's, so what they make of the operations is set here
    paths = spec._paths
    create = paths["/items"]["post"]
    create["requestBody"]["content"]["application/json"]["schema"] = union(creates)
    for methods in paths.values():
        for operation in methods.values():
            responses = operation.get("responses", {}) if isinstance(operation, dict) else {}
            for response in responses.values():
                content = response.get("content", {}) if isinstance(response, dict) else {}
                answer = content.get("application/json", {})
                if answer.get("schema") == {"$ref": "#/components/schemas/Item"}:
                    answer["schema"] = union(answers)
    listing = paths["/items"]["get"]
    listing["parameters"] = [
        *_with_field_sorts(listing.get("parameters", []), catalogue),
        *_field_parameters(catalogue),
    ]
    lines = [
        f"- {name}: {', '.join(catalogue.info(name).filterable)}"
        for name in catalogue
        if catalogue.info(name).filterable
    ]
    if lines:
        listing["description"] = (
            listing.get("description", "").rstrip()
            + "\n\nfield.F=v filters on a filterable field F, in every type that has it "
            "(field.F.gte=, .gt=, .lte=, .lt= for ranges; a field holding a list matches "
            "by any element), and sort=field.F or -field.F sorts by one (items without a "
            "value are left out). GET /item-types describes each; the filterable fields:\n\n"
            + "\n".join(lines)
        )


def _with_field_sorts(parameters: list[Any], catalogue: ItemTypes) -> list[Any]:
    """The list's parameters, ``sort`` naming the columns and the fields it sorts by,
    ``type`` the enabled types."""
    sorts = [*SORTS]
    for name, filterable in catalogue.filterable.items():
        if not filterable.many:
            sorts += [f"field.{name}", f"-field.{name}"]
    named = {"sort": sorts, "type": list(catalogue)}
    return [
        {**p, "schema": {"type": "string", "enum": named[p["name"]]}}
        if p.get("name") in named
        else p
        for p in parameters
    ]


def _field_parameters(catalogue: ItemTypes) -> list[dict[str, Any]]:
    """A query parameter for each filter on a field of an item type, and for each type's
    list arguments (``barcode``)."""
    found = []
    for name, filterable in catalogue.filterable.items():
        schema = argument_schema(filterable)
        owners = ", ".join(t for t in catalogue if name in catalogue.info(t).filterable)
        found.append((f"field.{name}", schema, f"items whose {name} is this ({owners})"))
        if not filterable.many:
            for operator, words in RANGES.items():
                found.append(
                    (f"field.{name}.{operator}", schema, f"items whose {name} is {words} this")
                )
    for argument, (owner, name) in catalogue.list_arguments.items():
        schema = argument_schema(catalogue.info(owner).filterable[name])
        found.append((argument, schema, f"items of type {owner} whose {name} is this"))
    return [
        {"in": "query", "name": name, "required": False, "schema": schema, "description": text}
        for name, schema, text in found
    ]


def _identifier_prefix() -> str:
    prefix: str = settings()["IDENTIFIER_PREFIX"]
    return prefix


@blp.route("")
class Items(MethodView):
    @require_user()
    @blp.arguments(ItemListArgsSchema, location="query", unknown=ma.RAISE)
    @blp.response(200, ItemSummarySchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> list[Any]:
        """Items you may read: filter, search (q), sort and page through them

        A search ranks the newest 1,000 items it matches (all of them with exact=true).
        X-Pagination's total is exact while fewer than 1,000 items follow the start of the
        page; beyond, it is a lower bound and total_exact is false (exact=true counts all).
        """
        lists.check_type(get_session(), args)
        if "q" in args:
            return search.search_page(
                get_session(),
                signed_in_user(),
                args,
                pagination_parameters,
                identifier_prefix=_identifier_prefix(),
            )
        return lists.list_page(get_session(), signed_in_user(), args, pagination_parameters)

    @require_user()
    @blp.arguments(ItemCreateSchema)
    @blp.response(201, ItemSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Create an item: send its type and fields; the answer carries its ETag"""
        item = service.create_item(get_session(), signed_in_user(), data, _identifier_prefix())
        body, status, headers = item_response(item, status=201)
        return body, status, {**headers, "Location": url_for("items.OneItem", refcode=item.refcode)}


@blp.route("/<string:refcode>")
class OneItem(MethodView):
    @require_user()
    @blp.response(200, ItemSchema)
    def get(self, refcode: str) -> Any:
        """One item, with its ETag"""
        return item_response(*service.read_item(get_session(), signed_in_user(), refcode))

    @require_user()
    @blp.doc(parameters=[IF_MATCH_PARAMETER])
    @blp.arguments(ItemPatchSchema, required=False)  # no body: nothing to change
    @blp.response(200, ItemSchema)
    def patch(self, body: dict[str, Any], refcode: str) -> Any:
        """Change fields of an item (If-Match required); a new version is kept"""
        session, user = get_session(), signed_in_user()
        item = service.get_item(session, user, refcode, write=True)
        check_if_match(service.etag(item))
        return item_response(service.update_item(session, user, item, body))

    @require_user()
    @blp.doc(parameters=[IF_MATCH_PARAMETER])
    @blp.response(204)
    def delete(self, refcode: str) -> None:
        """Move an item to the trash (If-Match required); restore it from /trash"""
        session, user = get_session(), signed_in_user()
        item = service.get_item(session, user, refcode, write=True)
        check_if_match(service.etag(item))
        service.trash_item(session, user, item)


@blp.route("/by-item-id/<string:item_id>")
@require_user()
@blp.response(200, ItemSchema)
@blp.alt_response(409, response="DEFAULT_ERROR", description="you may read several with it")
def by_item_id(item_id: str) -> Any:
    """One item, found by its item_id

    An item_id is unique among the items one person may see when it is set, so someone
    who reads more (a manager, a new share) may read two with one item_id: 409, naming
    their refcodes.
    """
    return item_response(*service.get_item_by_item_id(get_session(), signed_in_user(), item_id))


@blp.route("/<string:refcode>/graph")
@require_user()
@blp.arguments(GraphArgsSchema, location="query", unknown=ma.RAISE)
@blp.response(200, GraphSchema)
def item_graph(args: dict[str, Any], refcode: str) -> Any:
    """The item and those related to it, up to depth steps away"""
    session, user = get_session(), signed_in_user()
    item = service.get_item(session, user, refcode)
    return lists.graph(session, user, item, args["depth"])
