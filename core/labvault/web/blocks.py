"""/block-types and /items/<refcode>/blocks."""

from __future__ import annotations

from typing import Any

from flask import Response, url_for
from flask.views import MethodView

from labvault.blocks import service
from labvault.blocks.models import Block
from labvault.blocks.schemas import (
    BlockCreateSchema,
    BlockOrderSchema,
    BlockPatchSchema,
    BlockSchema,
    BlockTypeSchema,
)
from labvault.items import service as items
from labvault.web.access import require_user, signed_in_user
from labvault.web.blueprint import Blueprint
from labvault.web.conditional import IF_MATCH_PARAMETER, check_if_match
from labvault.web.session import get_session
from labvault.web.state import block_types as configured_types
from labvault.web.state import state

blp = Blueprint(
    "blocks", __name__, url_prefix="/items/<string:refcode>/blocks", description="Blocks"
)
types_blp = Blueprint("block_types", __name__, description="Block types")


def _data_schema(block_type: Any) -> dict[str, Any]:
    """The block type's DataSchema as JSON schema, converted as /openapi.json converts."""
    converter = state().api.ma_plugin.converter
    schema: dict[str, Any] = converter.schema2jsonschema(block_type.DataSchema)
    return schema


@types_blp.route("/block-types")
@require_user()
@types_blp.response(200, BlockTypeSchema(many=True))
def block_types() -> list[dict[str, Any]]:
    """The block types this server offers and the data each takes"""
    return [
        {
            "name": block_type.name,
            "description": block_type.description,
            "version": block_type.version,
            "accepted_file_extensions": list(block_type.accepted_file_extensions),
            "max_files": block_type.max_files,
            "data_schema": _data_schema(block_type),
        }
        for block_type in configured_types().values()
    ]


def _response(block: Block, status: int = 200) -> Any:
    return service.block_to_dict(block), status, {"ETag": service.etag(block)}


@blp.route("")
class Blocks(MethodView):
    @require_user()
    @blp.response(200, BlockSchema(many=True))
    def get(self, refcode: str) -> list[dict[str, Any]]:
        """The item's blocks, in order"""
        session = get_session()
        item = items.get_item(session, signed_in_user(), refcode)
        return [
            service.block_to_dict(b)
            for b in service.current_blocks(session, configured_types(), item)
        ]

    @require_user()
    @blp.arguments(BlockCreateSchema)
    @blp.response(201, BlockSchema)
    def post(self, body: dict[str, Any], refcode: str) -> Any:
        """Add a block at the end; the server computes its results"""
        session, user = get_session(), signed_in_user()
        item = items.get_item(session, user, refcode, write=True)
        block = service.create_block(session, configured_types(), user, item, body)
        answer, status, headers = _response(block, 201)
        where = url_for("blocks.OneBlock", refcode=item.refcode, block_id=block.id)
        return answer, status, {**headers, "Location": where}


@blp.route("/<int:block_id>")
class OneBlock(MethodView):
    @require_user()
    @blp.response(200, BlockSchema)
    def get(self, refcode: str, block_id: int) -> Any:
        """One block, with its ETag"""
        session = get_session()
        item = items.get_item(session, signed_in_user(), refcode)
        return _response(service.current_block(session, configured_types(), item, block_id))

    @require_user()
    @blp.doc(parameters=[IF_MATCH_PARAMETER])
    @blp.arguments(BlockPatchSchema, required=False)  # no body: nothing to change
    @blp.response(200, BlockSchema)
    def patch(self, body: dict[str, Any], refcode: str, block_id: int) -> Any:
        """Change a block's title, data or files (If-Match required); recomputed"""
        session, user = get_session(), signed_in_user()
        item = items.get_item(session, user, refcode, write=True)
        block = service.get_block(session, item, block_id)
        check_if_match(service.etag(block))
        return _response(service.update_block(session, configured_types(), user, item, block, body))

    @require_user()
    @blp.doc(parameters=[IF_MATCH_PARAMETER])
    @blp.response(204)
    def delete(self, refcode: str, block_id: int) -> None:
        """Remove a block (If-Match required); the item's versions keep it"""
        session, user = get_session(), signed_in_user()
        item = items.get_item(session, user, refcode, write=True)
        block = service.get_block(session, item, block_id)
        check_if_match(service.etag(block))
        service.delete_block(session, user, item, block)


@blp.route("/order", methods=["PUT"])
@require_user()
@blp.arguments(BlockOrderSchema)
@blp.response(200, BlockSchema(many=True))
def order(body: dict[str, Any], refcode: str) -> list[dict[str, Any]]:
    """Put the item's blocks in this order (every block id exactly once)"""
    session, user = get_session(), signed_in_user()
    item = items.get_item(session, user, refcode, write=True)
    blocks = service.reorder_blocks(session, user, item, body["block_ids"])
    return [service.block_to_dict(b) for b in blocks]


@blp.route("/<int:block_id>/plot.png")
@require_user()
@blp.response(
    200,
    {"type": "string", "format": "binary"},
    content_type="image/png",
    description="the plot as a PNG picture",
)
def plot(refcode: str, block_id: int) -> Response:
    """The block's plot, rendered on the server"""
    session = get_session()
    item = items.get_item(session, signed_in_user(), refcode)
    png, key = service.plot_png(
        session, configured_types(), item, service.get_block(session, item, block_id)
    )
    headers = {"Cache-Control": "private, max-age=60", "ETag": f'"plot-{key}"'}
    return Response(png, mimetype="image/png", headers=headers)
