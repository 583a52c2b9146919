"""What every type a plugin provides has, whatever its kind (each kind's base class is
in a module of its own: ``_auth_providers``, ``_block_types``, ``_item_types``, ``_file_sources``,
``_inventory_importers``, ``_backup_targets``, ``_interchange``, ``_file_stores``,
``_jobs``).

The words, as everywhere in labvault: a *plugin* (a distribution enabled in
``PLUGINS``) provides *types* of ten *kinds* (auth providers, block types, item
types, file sources, inventory importers, backup targets, interchange formats, file
stores, job types, job runners) from its
registration hooks, each type
with a unique ``name`` within its kind. The deployer configures named *instances* of a
type, each with its *options*, for example::

    AUTH_PROVIDERS = {"campus": {"type": "oidc", "client_id": "..."}}

Every type declares its options as a marshmallow schema (``OptionsSchema``); the core
validates them with the rest of the settings and reports problems by key path. Each
instance is given its options as ``self.options`` and the
:class:`~labvault.plugin.Host` of the plugin that provides its type as ``self.host``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import marshmallow as ma

if TYPE_CHECKING:
    from labvault.plugin._host import Host


class EmptySchema(ma.Schema):
    """A schema without fields that refuses every key: the options of a type that takes
    none, and the data of a block type that keeps none."""

    class Meta:
        unknown = ma.RAISE


class PluginType:
    """The base of every kind's base class: a type's unique name, its description and
    the schema of its options.

    The core creates the instances; a subclass that needs setup overrides ``__init__``
    with the same arguments and calls ``super().__init__(instance_name, options, host)``.
    """

    #: Unique name of the type within its kind, e.g. ``"oidc"`` or ``"tabular"``.
    name: ClassVar[str] = ""
    #: One line shown in ``/info`` and ``labvault plugins``.
    description: ClassVar[str] = ""
    #: Marshmallow schema of the options a deployer may set for an instance (by default
    #: none).
    OptionsSchema: ClassVar[type[ma.Schema]] = EmptySchema

    def __init__(self, instance_name: str, options: Mapping[str, Any], host: Host) -> None:
        #: The deployer's name for this instance (its key in the settings).
        self.instance_name = instance_name
        #: The instance's options, validated with ``OptionsSchema``.
        self.options: Mapping[str, Any] = options
        #: The core, as the plugin that provides this type reaches it.
        self.host = host
