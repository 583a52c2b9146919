"""/info (what this server is and offers) and the health probes."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app
from marshmallow import fields

from labvault import API_VERSION, __version__
from labvault.db import database_problem
from labvault.errors import DatabaseUnavailable
from labvault.loader import enabled_plugin_info
from labvault.plugin import API_VERSION as PLUGIN_API_VERSION
from labvault.registry import BLOCK_TYPES, INTERCHANGE_FORMATS
from labvault.search import search_engine_name
from labvault.signin.schemas import ProviderSchema
from labvault.web.blueprint import Blueprint
from labvault.web.session import get_session
from labvault.web.signin import provider_info
from labvault.web.state import state as app_state


class PluginInfoSchema(ma.Schema):
    name = fields.String()
    distribution = fields.String()
    version = fields.String()


class BlockTypeInfoSchema(ma.Schema):
    name = fields.String()
    description = fields.String()
    version = fields.String()


class ExportFormatSchema(ma.Schema):
    name = fields.String(metadata={"description": "as GET /items/<refcode>/export.<name> names it"})
    display_name = fields.String()
    description = fields.String()
    file_extension = fields.String(metadata={"example": ".eln"})
    media_type = fields.String(metadata={"example": "application/vnd.eln+zip"})


class DeploymentSchema(ma.Schema):
    maintainer = fields.String(allow_none=True)
    issue_tracker = fields.String(allow_none=True)
    homepage = fields.String(allow_none=True)
    source_repository = fields.String(allow_none=True)


class InfoSchema(ma.Schema):
    version = fields.String(metadata={"description": "labvault version"})
    plugin_api_version = fields.String(
        metadata={
            "description": "version of the plugin API (labvault.plugin) this labvault provides",
            "example": "2.1",
        }
    )
    api_version = fields.String()
    identifier_prefix = fields.String()
    deployment = fields.Nested(DeploymentSchema)
    plugins = fields.List(fields.Nested(PluginInfoSchema))
    login_providers = fields.List(fields.Nested(ProviderSchema))
    block_types = fields.List(fields.Nested(BlockTypeInfoSchema))
    export_formats = fields.List(
        fields.Nested(ExportFormatSchema),
        metadata={"description": "the formats items are exported to (plugins provide them)"},
    )
    max_upload_size = fields.Integer(
        metadata={"description": "bytes a file upload (multipart/form-data) may have"}
    )
    max_json_size = fields.Integer(metadata={"description": "bytes any other body (JSON) may have"})
    search_engine = fields.String(
        metadata={
            "description": "what searches items: sqlite-fts5, postgresql-gin, "
            "mariadb-mroonga or mariadb-innodb-fulltext",
        }
    )


class HealthSchema(ma.Schema):
    status = fields.String(metadata={"example": "ok"})
    checks = fields.Dict(keys=fields.String(), values=fields.String())


blp = Blueprint("meta", __name__, description="Server information and health")


@blp.route("/info")
@blp.doc(security=[])
@blp.response(200, InfoSchema)
def info() -> dict[str, Any]:
    """What this server is: versions, identifier prefix, plugins, login providers"""
    state = app_state()
    settings = state.settings
    return {
        "version": __version__,
        "plugin_api_version": PLUGIN_API_VERSION,
        "api_version": API_VERSION,
        "identifier_prefix": settings["IDENTIFIER_PREFIX"],
        "deployment": settings["DEPLOYMENT_METADATA"],
        "plugins": enabled_plugin_info(settings["PLUGINS"]),
        "login_providers": provider_info(),
        "block_types": list(state.registry.instances_of(BLOCK_TYPES).values()),
        "export_formats": list(state.registry.instances_of(INTERCHANGE_FORMATS).values()),
        "max_upload_size": settings["MAX_CONTENT_LENGTH"],
        "max_json_size": settings["MAX_JSON_LENGTH"],
        "search_engine": search_engine_name(state.database.engine),
    }


@blp.route("/health/live")
@blp.doc(security=[])
@blp.response(200, HealthSchema)
def live() -> dict[str, Any]:
    """The process is up (for liveness probes)"""
    return {"status": "ok", "checks": {}}


@blp.route("/health/ready")
@blp.doc(security=[])
@blp.response(200, HealthSchema)
@blp.alt_response(503, schema=HealthSchema, description="the database cannot be reached")
def ready() -> Any:
    """The server can answer requests: the database is reachable"""
    problem = database_problem(get_session())
    if problem is not None:
        current_app.logger.warning("readiness check failed: %s", problem)
        retry = {"Retry-After": str(DatabaseUnavailable.RETRY_AFTER)}
        return {"status": "unavailable", "checks": {"database": "unreachable"}}, 503, retry
    return {"status": "ok", "checks": {"database": "ok"}}
