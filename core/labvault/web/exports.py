"""/items/<refcode>/export.<format>: an item (and the items related to it) exported to
an interchange format an enabled plugin provides, streamed to the client; /exports: a
collection or a large set exported in the background (a job), then downloaded."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import marshmallow as ma
from flask import Response

from labvault.auth.models import Role
from labvault.errors import NotFound
from labvault.interchange import exports
from labvault.interchange import job as export_job
from labvault.plugin import Export, InterchangeFormat
from labvault.registry import INTERCHANGE_FORMATS
from labvault.schemas import Strict
from labvault.web.access import require_user, signed_in_user
from labvault.web.blueprint import Blueprint
from labvault.web.download import content_disposition_names, send_stored_file
from labvault.web.session import get_session
from labvault.web.state import file_store, jobs, registry, state

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


# --- exports run in the background ---------------------------------------------------

runs_blp = Blueprint(
    "export_runs",
    __name__,
    url_prefix="/exports",
    description="Exports of collections and large sets, written in the background, then downloaded",
)


class ExportRunSchema(Strict):
    """POST /exports: what to export (one of item, collection and all) and how."""

    format = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=40),
        metadata={"description": "format name (GET /info: export_formats), e.g. eln"},
    )
    item = ma.fields.String(
        validate=ma.validate.Length(min=1, max=40),
        metadata={"description": "export this item (refcode) ..."},
    )
    depth = ma.fields.Integer(
        load_default=0,
        validate=ma.validate.Range(min=0, max=exports.MAX_DEPTH),
        metadata={"description": "... and the items related to it, up to this many steps"},
    )
    collection = ma.fields.String(
        validate=ma.validate.Length(min=1, max=40),
        metadata={"description": "export the items of this collection"},
    )
    all = ma.fields.Boolean(
        load_default=False, metadata={"description": "export every item you may read"}
    )
    versions = ma.fields.Boolean(
        load_default=False, metadata={"description": "also every version of each item"}
    )


class ExportStartedSchema(Strict):
    job = ma.fields.Integer(
        metadata={"description": "the export's job: GET /jobs/{job} says how it goes"}
    )
    download = ma.fields.String(
        metadata={"description": "where the archive is, once the job succeeded"}
    )


@runs_blp.route("", methods=["POST"])
@require_user()
@runs_blp.arguments(ExportRunSchema)
@runs_blp.response(202, ExportStartedSchema, description="the export's job, recorded")
def start_export(body: dict[str, Any]) -> dict[str, Any]:
    """Export a collection, everything you may read, or an item and its related items,
    in the background (a job), to download when it is done

    For large sets: the archive is written by the job runner, not while the request
    waits. ``GET /jobs/{job}`` says when it succeeded; its ``result`` names the archive
    (``name``, ``size``, ``sha256``), which ``GET /exports/{job}/download`` sends, for a
    week. Only what you may read when the job runs is exported.
    """
    session, user = get_session(), signed_in_user()
    formats = registry().instances_of(INTERCHANGE_FORMATS)
    job_id = export_job.start_export(session, jobs(), formats, user, export_job.selection(body))
    return {"job": job_id, "download": f"/exports/{job_id}/download"}


@runs_blp.route("/<int:job_id>/download")
@require_user()
@runs_blp.response(
    200,
    {"type": "string", "format": "binary"},
    content_type="application/octet-stream",
    description="the archive, in the format's own media type (.eln: application/vnd.eln+zip)",
)
def download_export(job_id: int) -> Response:
    """The archive of an export run in the background (its owner, or admins), once its
    job succeeded: Range and If-None-Match are honoured"""
    user = signed_in_user()
    admin = user.role.rank >= Role.ADMIN.rank
    result = export_job.finished_export(get_session(), job_id, user, admin=admin)
    return send_stored_file(
        file_store(),
        result["sha256"],
        name=result["name"],
        media_type=result["media_type"],
        size=result["size"],
    )
