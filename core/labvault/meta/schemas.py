"""Schemas of /info and the health probes."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from labvault.signin.schemas import ProviderSchema


class PluginInfoSchema(ma.Schema):
    name = fields.String()
    distribution = fields.String()
    version = fields.String()


class BlockTypeInfoSchema(ma.Schema):
    name = fields.String()
    description = fields.String()
    version = fields.String()


class DeploymentSchema(ma.Schema):
    maintainer = fields.String(allow_none=True)
    issue_tracker = fields.String(allow_none=True)
    homepage = fields.String(allow_none=True)
    source_repository = fields.String(allow_none=True)


class InfoSchema(ma.Schema):
    version = fields.String(metadata={"description": "labvault version"})
    api_version = fields.String()
    identifier_prefix = fields.String()
    deployment = fields.Nested(DeploymentSchema)
    plugins = fields.List(fields.Nested(PluginInfoSchema))
    login_providers = fields.List(fields.Nested(ProviderSchema))
    block_types = fields.List(fields.Nested(BlockTypeInfoSchema))
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
