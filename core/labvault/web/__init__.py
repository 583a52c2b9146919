"""The web layer: every route of the core, one module per URL space, above all services.

Routes read the request, call services and build the answer; services know nothing of
HTTP (:mod:`labvault.api` answers the domain errors they raise). Each URL space has one
module; its blueprint's name is its tag in /openapi.json:

    /info, /health                      meta         (web.meta)
    /auth/refresh, /auth/logout         auth         (web.auth)
    /users/me/api-keys                  api_keys     (web.auth)
    /auth/providers, /auth/<instance>   signin       (web.signin)
    /users/me/identities                identities   (web.signin)
    /users                              users        (web.users)
    /items                              items        (web.items)
    /items/<refcode>/versions           items        (web.versions, nested in items)
    /item-types                         item_types   (web.item_types)
    /trash                              trash        (web.trash)
    /collections                        collections  (web.collections)
    /items/<refcode>/blocks             blocks       (web.blocks)
    /block-types                        block_types  (web.blocks)
    /items/<refcode>/files, /files      files        (web.files)
    /items/<refcode>/export.<format>    exports      (web.exports)
    /exports                            export_runs  (web.exports)
    /imports                            imports      (web.imports)
    /file-sources                       sources      (web.sources)
    /inventory                          inventory    (web.inventory)
    /backups                            backups      (web.backups)
    /jobs                               jobs         (web.jobs)
    /audit                              audit        (web.audit)

:func:`blueprints` lists them for :func:`labvault.api.init_api`, the one place they are
registered, in the order /openapi.json lists their tags.
"""

from __future__ import annotations

from labvault.web import (
    audit,
    auth,
    backups,
    blocks,
    collections,
    exports,
    files,
    imports,
    inventory,
    item_types,
    items,
    jobs,
    meta,
    signin,
    sources,
    trash,
    users,
    versions,
)
from labvault.web.blueprint import Blueprint

# An item's versions are a URL space of their own, nested in the items' (and documented
# under their tag): /items/<refcode>/versions.
items.blp.register_blueprint(versions.blp)


def blueprints() -> list[Blueprint]:
    """Every blueprint of the core, in the order the API registers them."""
    return [
        meta.blp,
        auth.blp,
        signin.blp,
        users.blp,
        auth.keys_blp,
        signin.identities_blp,
        items.blp,
        item_types.blp,
        trash.blp,
        collections.blp,
        blocks.blp,
        blocks.types_blp,
        files.blp,
        exports.blp,
        exports.runs_blp,
        imports.blp,
        sources.blp,
        inventory.blp,
        backups.blp,
        jobs.blp,
        audit.blp,
    ]
