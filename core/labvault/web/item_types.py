"""/item-types: the kinds of record this server keeps, and what each takes."""

from __future__ import annotations

from typing import Any

from labvault.errors import NotFound
from labvault.items import types
from labvault.items.schemas import ItemTypeSchema
from labvault.web.access import require_user
from labvault.web.blueprint import Blueprint
from labvault.web.state import state

blp = Blueprint("item_types", __name__, url_prefix="/item-types", description="Item types")


def _described(info: types.TypeInfo) -> dict[str, Any]:
    """The type as a client sees it, its POST /items body converted to JSON schema as
    /openapi.json converts it."""
    converter = state().api.ma_plugin.converter
    return {**info.described(), "schema": converter.schema2jsonschema(info.create_schema)}


@blp.route("")
@require_user()
@blp.response(200, ItemTypeSchema(many=True))
def item_types() -> list[dict[str, Any]]:
    """The item types this server offers: statuses, filterable fields, the body each takes

    Items of a type no enabled plugin provides any more are read-only and not listed.
    """
    catalogue = types.current()
    return [_described(catalogue.info(name)) for name in catalogue]


@blp.route("/<string:name>")
@require_user()
@blp.response(200, ItemTypeSchema)
def item_type(name: str) -> dict[str, Any]:
    """One item type"""
    catalogue = types.current()
    if name not in catalogue:
        raise NotFound(f"no item type {name!r}; this server offers: {', '.join(catalogue)}")
    return _described(catalogue.info(name))
