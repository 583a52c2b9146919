"""Every hook a labvault plugin can implement.

A plugin is a Python module (named by an entry point in the ``labvault.plugins`` group)
with functions decorated by :data:`labvault.plugin.hookimpl` whose names match the specs
below. A misspelled hook name or argument stops startup. The core's own features are
registered through these same hooks (see ``labvault/builtins/``).

The five registration hooks return *types*; the deployer's config creates named instances
of them (see :mod:`labvault.extensions`). Their answers are collected from every enabled
plugin, and two types of one kind with the same ``name`` stop startup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click
    from flask import Flask

    from labvault.extensions import (
        AuthProvider,
        BackupTarget,
        BlockType,
        FileSource,
        InventoryImporter,
    )

PROJECT_NAME = "labvault"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def labvault_auth_provider_types() -> list[type[AuthProvider]]:  # type: ignore[empty-body]
    """Return the sign-in methods this plugin provides.

    Called once at startup. Each type needs a unique ``name``; the deployer creates
    instances in ``AUTH_PROVIDERS`` with ``"type": name`` and the options of the type's
    ``ConfigSchema``. Enabled instances are listed in ``GET /info``.

    Example::

        class GitLabLogin(AuthProvider):
            name = "gitlab"
            display_name = "GitLab"
            ConfigSchema = GitLabOptions

        @hookimpl
        def labvault_auth_provider_types():
            return [GitLabLogin]
    """


@hookspec
def labvault_block_types() -> list[type[BlockType]]:  # type: ignore[empty-body]
    """Return the block types this plugin provides.

    Called once at startup; every enabled plugin is asked and all answers are collected.
    Each type needs a unique ``name``; a clash stops startup. Every registered block type
    is available; ``BLOCK_TYPES = {name: {...}}`` sets a type's options.

    Example::

        class XRDPattern(BlockType):
            name = "xrd"
            accepted_file_extensions = (".xy", ".xrdml")

        @hookimpl
        def labvault_block_types():
            return [XRDPattern]
    """


@hookspec
def labvault_file_source_types() -> list[type[FileSource]]:  # type: ignore[empty-body]
    """Return the kinds of remote file storage this plugin can read from.

    Called once at startup. The deployer creates instances in ``FILE_SOURCES``, e.g.
    ``{"raman-pc": {"type": "sftp", "host": "..."}}``.

    Example::

        @hookimpl
        def labvault_file_source_types():
            return [SFTPSource]
    """


@hookspec
def labvault_inventory_importers() -> list[type[InventoryImporter]]:  # type: ignore[empty-body]
    """Return the chemical inventory systems this plugin imports starting materials from.

    Called once at startup. The deployer creates instances in ``INVENTORY_IMPORTERS``.

    Example::

        @hookimpl
        def labvault_inventory_importers():
            return [SpreadsheetInventory]
    """


@hookspec
def labvault_backup_target_types() -> list[type[BackupTarget]]:  # type: ignore[empty-body]
    """Return the places this plugin can write backups to.

    Called once at startup. The deployer creates instances in ``BACKUP_TARGETS``.

    Example::

        @hookimpl
        def labvault_backup_target_types():
            return [TapeLibrary]
    """


@hookspec
def labvault_blueprints() -> list[Any]:  # type: ignore[empty-body]
    """Return extra flask-smorest blueprints to serve (and to document in /openapi.json).

    Called once while the app is created. Use ``flask_smorest.Blueprint`` so the routes
    appear in Swagger UI with their schemas; URL prefixes must not clash with the core's.

    Example::

        blp = Blueprint("instruments", __name__, url_prefix="/instruments")

        @hookimpl
        def labvault_blueprints():
            return [blp]
    """


@hookspec
def labvault_cli_commands() -> list[click.Command]:  # type: ignore[empty-body]
    """Return click commands to add to the ``labvault`` command line.

    Called when the CLI starts, for enabled plugins only. Commands run inside an app
    context, so they can use the database and the registry.

    Example::

        @click.command("sync-inventory")
        def sync_inventory():
            ...

        @hookimpl
        def labvault_cli_commands():
            return [sync_inventory]
    """


@hookspec
def labvault_startup(app: Flask) -> None:
    """Run once after the app is created and every plugin is registered.

    Return nothing (the return value is ignored). ``app.extensions["labvault"]`` holds
    the settings and the registry. Raise :class:`labvault.plugin.ConfigError` to stop
    startup with a clear message.

    Example::

        @hookimpl
        def labvault_startup(app):
            app.logger.info("instrument bridge ready")
    """
