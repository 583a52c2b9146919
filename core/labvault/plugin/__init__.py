"""The public API for plugin authors: the only labvault module a plugin imports.

Everything here is stable within a major version of :data:`API_VERSION`; a plugin declares
the range it is written for in its module, ``LABVAULT_PLUGIN_API = ">=2.0,<3"``, and the
loader refuses it on a labvault outside that range (plugins/README.md, "Plugin API
versions"). The hooks a plugin can implement are documented in
:mod:`labvault.hookspecs`; each hook may take any of its spec's arguments, or none.

A plugin provides *types* of ten *kinds* (subclasses of :class:`AuthProvider`,
:class:`BlockType`, :class:`ItemType`, :class:`FileSource`, :class:`InventoryImporter`,
:class:`BackupTarget`, :class:`InterchangeFormat`, :class:`FileStore`, :class:`JobType`
and :class:`JobRunner`, which share :class:`PluginType`); the
deployer configures named *instances* of a type, each with its *options* (the type's
``OptionsSchema``).

Example plugin module::

    import marshmallow as ma
    from labvault.plugin import BlockType, hookimpl

    LABVAULT_PLUGIN_API = ">=2.0,<3"

    class XRDPattern(BlockType):
        name = "xrd"
        accepted_file_extensions = (".xy",)

        def compute(self, data, files):
            with self.host.files.open(files[0].sha256) as stream:
                return {"points": sum(1 for _ in stream)}

    class Options(ma.Schema):
        wavelength = ma.fields.Float(load_default=1.5406)

    @hookimpl
    def labvault_block_types():
        return [XRDPattern]

    @hookimpl
    def labvault_options_schema():
        return Options  # PLUGIN_OPTIONS = {"xrd": {"wavelength": 0.7093}}

    @hookimpl
    def labvault_startup(host):
        host.logger.info("XRD patterns at %s Å", host.options["wavelength"])
"""

from typing import TYPE_CHECKING, Any

from labvault.archives import DEFAULT_MAX_COMPRESSION_RATIO, check_zip_archive
from labvault.emails import InvalidEmail, normalize_email, normalize_email_domain
from labvault.errors import (
    BadPath,
    ConfigError,
    Conflict,
    ContentTooLarge,
    DomainError,
    Forbidden,
    Invalid,
    LabvaultError,
    NotAFile,
    NotFound,
    ProcessingError,
    TooManyRequests,
    Unauthenticated,
    Unavailable,
    WriteOutsideTransaction,
)
from labvault.plugin._auth_providers import (
    AuthorizationCallback,
    AuthorizationRequest,
    AuthProvider,
)
from labvault.plugin._backup_targets import BACKUP_KEY_PATTERN, BackupTarget, check_backup_key
from labvault.plugin._block_types import BlockFile, BlockType
from labvault.plugin._fields import Secret, SecretValue
from labvault.plugin._file_sources import (
    FileSource,
    FileSourceOptions,
    LeadsOutside,
    OpenedFile,
    RemoteEntry,
    relative_to_root,
)
from labvault.plugin._file_stores import (
    ContentInfo,
    ContentMissing,
    ContentWriter,
    FileStore,
    SeekableRange,
    check_sha256,
)
from labvault.plugin._host import ContentStore, Host, Identity, SessionTokens, StoredContent
from labvault.plugin._interchange import (
    Export,
    ExportedBlock,
    ExportedFile,
    ExportedItem,
    ExportedLink,
    ExportedPerson,
    ExportedVersion,
    ExportSoftware,
    ImportArchive,
    Imported,
    ImportedBlock,
    ImportedFile,
    ImportedLink,
    ImportedPerson,
    ImportedRecord,
    InterchangeFormat,
)
from labvault.plugin._inventory_importers import InventoryImporter, InventoryRecord, RowProblem
from labvault.plugin._item_types import (
    Choice,
    ItemReference,
    ItemType,
    Quantity,
    SearchWeight,
    Text,
)
from labvault.plugin._jobs import Job, JobQueue, JobRunner, JobType
from labvault.plugin._markers import hookimpl
from labvault.plugin._types import PluginType

if TYPE_CHECKING:
    from labvault.plugin._blueprint import Blueprint

API_VERSION = "2.1"
"""Version of this plugin API (major.minor). A new minor version only adds; a new major
version may change what exists. Plugins declare the range they need as
``LABVAULT_PLUGIN_API``; see plugins/README.md and CHANGELOG.md."""


def __getattr__(name: str) -> Any:
    """:class:`Blueprint` is imported on first use: flask-smorest (and Flask, webargs,
    apispec) cost more than the rest of this API, and a plugin that serves no routes, or
    a CLI command that serves none, does without them."""
    if name == "Blueprint":
        from labvault.plugin._blueprint import Blueprint

        globals()["Blueprint"] = Blueprint
        return Blueprint
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "API_VERSION",
    "BACKUP_KEY_PATTERN",
    "DEFAULT_MAX_COMPRESSION_RATIO",
    "AuthProvider",
    "AuthorizationCallback",
    "AuthorizationRequest",
    "BackupTarget",
    "BadPath",
    "BlockFile",
    "BlockType",
    "Blueprint",
    "Choice",
    "ConfigError",
    "Conflict",
    "ContentInfo",
    "ContentMissing",
    "ContentStore",
    "ContentTooLarge",
    "ContentWriter",
    "DomainError",
    "Export",
    "ExportSoftware",
    "ExportedBlock",
    "ExportedFile",
    "ExportedItem",
    "ExportedLink",
    "ExportedPerson",
    "ExportedVersion",
    "FileSource",
    "FileSourceOptions",
    "FileStore",
    "Forbidden",
    "Host",
    "Identity",
    "ImportArchive",
    "Imported",
    "ImportedBlock",
    "ImportedFile",
    "ImportedLink",
    "ImportedPerson",
    "ImportedRecord",
    "InterchangeFormat",
    "Invalid",
    "InvalidEmail",
    "InventoryImporter",
    "InventoryRecord",
    "ItemReference",
    "ItemType",
    "Job",
    "JobQueue",
    "JobRunner",
    "JobType",
    "LabvaultError",
    "LeadsOutside",
    "NotAFile",
    "NotFound",
    "OpenedFile",
    "PluginType",
    "ProcessingError",
    "Quantity",
    "RemoteEntry",
    "RowProblem",
    "SearchWeight",
    "Secret",
    "SecretValue",
    "SeekableRange",
    "SessionTokens",
    "StoredContent",
    "Text",
    "TooManyRequests",
    "Unauthenticated",
    "Unavailable",
    "WriteOutsideTransaction",
    "check_backup_key",
    "check_sha256",
    "check_zip_archive",
    "hookimpl",
    "normalize_email",
    "normalize_email_domain",
    "relative_to_root",
]
