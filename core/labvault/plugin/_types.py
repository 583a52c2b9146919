"""What every extension type has, whatever its kind (each kind's base class is in a
module of its own: ``_auth_providers``, ``_block_types``, ``_file_sources``,
``_inventory_importers``, ``_backup_targets``).

A plugin's registration hook returns *types* (subclasses of the kinds' bases), each with a
unique ``name``. The deployer's config then creates named *instances* of those types,
for example::

    AUTH_PROVIDERS = {"campus": {"type": "oidc", "client_id": "..."}}

Every type declares its options as a marshmallow schema (``ConfigSchema``); the core
validates them with the rest of the settings and reports problems by key path. Each
instance is given the :class:`~labvault.plugin.Host` of the plugin that registered its
type as ``self.host``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import marshmallow as ma

if TYPE_CHECKING:
    from labvault.plugin._host import Host


class EmptyConfigSchema(ma.Schema):
    """The config schema of a type that takes no options."""

    class Meta:
        unknown = ma.RAISE


class Extension:
    """What every extension type has: a unique type name, a description, its options.

    The core creates the instances; a subclass that needs setup overrides ``__init__``
    with the same arguments and calls ``super().__init__(instance_name, config, host)``.
    """

    #: Unique name of the type within its kind, e.g. ``"oidc"`` or ``"tabular"``.
    name: ClassVar[str] = ""
    #: One line shown in ``/info`` and ``labvault plugins``.
    description: ClassVar[str] = ""
    #: Marshmallow schema of the options a deployer may set for an instance.
    ConfigSchema: ClassVar[type[ma.Schema]] = EmptyConfigSchema

    def __init__(self, instance_name: str, config: Mapping[str, Any], host: Host) -> None:
        #: The deployer's name for this instance (the key in config).
        self.instance_name = instance_name
        #: The validated options.
        self.config: Mapping[str, Any] = config
        #: The core, as the plugin that registered this type reaches it.
        self.host = host
