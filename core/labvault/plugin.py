"""The public API for plugin authors: the only labvault module a plugin imports.

Everything here is stable within a major version; plugins pin ``labvault>=X,<X+1``.

Example plugin module::

    from labvault.plugin import BlockType, hookimpl

    class XRDPattern(BlockType):
        name = "xrd"

    @hookimpl
    def labvault_block_types():
        return [XRDPattern]
"""

from labvault.errors import ConfigError, ExtensionError, LabvaultError, PluginError
from labvault.extensions import (
    AuthProvider,
    BackupTarget,
    BlockFile,
    BlockType,
    EmptyConfigSchema,
    Extension,
    FileSource,
    InventoryImporter,
    RemoteEntry,
)
from labvault.hookspecs import hookimpl

__all__ = [
    "AuthProvider",
    "BackupTarget",
    "BlockFile",
    "BlockType",
    "ConfigError",
    "EmptyConfigSchema",
    "Extension",
    "ExtensionError",
    "FileSource",
    "InventoryImporter",
    "LabvaultError",
    "PluginError",
    "RemoteEntry",
    "hookimpl",
]
