"""/items/<refcode>/export.<format>: an item (and the items related to it) exported to
an interchange format an enabled plugin provides, streamed to the client."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import marshmallow as ma
from flask import Response

from labvault.errors import NotFound
from labvault.interchange import exports
from labvault.plugin import Export, InterchangeFormat
from labvault.registry import INTERCHANGE_FORMATS
from labvault.web.access import require_user, signed_in_user
from labvault.web.blueprint import Blueprint
from labvault.web.download import content_disposition_names
from labvault.web.session import get_session
from labvault.web.state import registry, state

blp = Blueprint(
    "exports",
    __name__,
    url_prefix="/items",
    description="Items exported to the file formats of other lab systems (.eln, ...)",
)


class ExportArgsSchema(ma.Schema):
    depth = ma.fields.Integer(
        load_default=0,
        validate=ma.validate.Range(min=0, max=exports.MAX_DEPTH),
        metadata={"description": "also export the items related to it, up to this many steps"},
    )
    versions = ma.fields.Boolean(
        load_default=False,
        metadata={"description": "also export every version of each item"},
    )


def interchange_format(name: str) -> InterchangeFormat:
    """The enabled format ``name``; NotFound (naming the enabled ones) otherwise."""
    formats = registry().instances_of(INTERCHANGE_FORMATS)
    if name not in formats:
        enabled = ", ".join(sorted(formats)) or "none"
        raise NotFound(f"no export format {name!r} (enabled: {enabled})")
    return formats[name]


def streamed(written: InterchangeFormat, export: Export) -> Response:
    """The export written by the format, sent as it is written: the first chunk is
    written before answering, so a format's refusal is an error answer."""
    chunks: Iterator[bytes] = written.write(export)
    first = next(chunks, b"")
    # not in the request's context: the rest is written from sessions of the export's
    # own, and a context held open by the stream would outlive the request (a test
    # client's next request would share its app context, and its signed-in user)
    response = Response(itertools.chain([first], chunks), mimetype=written.media_type)
    names = content_disposition_names(f"{export.name}{written.file_extension}")
    response.headers.set("Content-Disposition", "attachment", **names)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@blp.route("/<string:refcode>/export.<string:format_name>")
@require_user()
@blp.arguments(ExportArgsSchema, location="query", unknown=ma.RAISE)
@blp.response(
    200,
    {"type": "string", "format": "binary"},
    content_type="application/octet-stream",
    description="the archive, in the format's own media type (.eln: application/vnd.eln+zip)",
)
def export_item(args: dict[str, Any], refcode: str, format_name: str) -> Response:
    """The item, with its files and blocks, as an archive of an interchange format
    (format_name: eln for the ELN Consortium's .eln, when its plugin is enabled)"""
    written = interchange_format(format_name)
    session, user = get_session(), signed_in_user()
    chosen = exports.choose_item(session, user, refcode, args["depth"])
    export = exports.Exporter.of(state()).export(session, user, chosen, versions=args["versions"])
    return streamed(written, export)
