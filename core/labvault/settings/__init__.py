"""Loading and validating the deployer's settings.

Sources, later ones winning: the schema's defaults, the deployer's ``config.py`` (found
as :mod:`labvault.home` says: ``LABVAULT_CONFIG``, ``$LABVAULT_HOME/config.py`` or
``./config.py``), then ``LABVAULT_<SETTING>`` environment variables (the ``.env`` file
beside config.py is read into the environment first). Values from the environment that
parse as JSON are decoded, so lists and dicts work there too, and ``null`` unsets a
setting that may be None. A setting given as ``{"env": "NAME"}`` is read from the
variable NAME, decoded the same way. Relative paths are relative to config.py's folder.
Every setting is documented in ``config-template.py``.

``schema`` holds the settings' schema, ``sources`` reads them, ``validation`` checks them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labvault.lazy import lazy_names

if TYPE_CHECKING:
    from labvault.home import CONFIG_ENV_VAR, Location
    from labvault.settings.reading import INTERVAL_PATTERN
    from labvault.settings.schema import (
        DEFAULT_PROXY_HEADERS,
        DEFAULT_RATE_LIMITS,
        ENV_NAME_PATTERN,
        FORWARDED_HEADERS,
        INSTANCE_MODE,
        JWT_ALGORITHMS,
        MIN_SECRET_KEY_LENGTH,
        PATH_SETTINGS,
        RATE_LIMIT_PATTERN,
        RETIRED_SETTINGS,
        ROLES,
        SETTING_NAMES,
        BackupStrategySchema,
        DeploymentMetadataSchema,
        SettingsSchema,
        flatten_errors,
        parse_rate_limit,
    )
    from labvault.settings.sources import (
        ENV_PREFIX,
        base_of,
        decode_environment_value,
        gather_raw_settings,
        is_environment_reference,
        locate_and_read_dotenv,
        read_config_file,
        read_environment,
    )
    from labvault.settings.validation import (
        development_secret_key,
        inspect_settings,
        load_settings,
        validate_settings,
    )

#: Where each name below is defined. They are imported on first use (PEP 562): the
#: schema imports marshmallow, which ``labvault --help`` does without (it only looks at
#: what PLUGINS says, :func:`~labvault.settings.sources.written_setting`).
_MODULES = {
    "BackupStrategySchema": "labvault.settings.schema",
    "CONFIG_ENV_VAR": "labvault.home",
    "DEFAULT_PROXY_HEADERS": "labvault.settings.schema",
    "DEFAULT_RATE_LIMITS": "labvault.settings.schema",
    "DeploymentMetadataSchema": "labvault.settings.schema",
    "ENV_NAME_PATTERN": "labvault.settings.schema",
    "ENV_PREFIX": "labvault.settings.sources",
    "FORWARDED_HEADERS": "labvault.settings.schema",
    "INSTANCE_MODE": "labvault.settings.schema",
    "INTERVAL_PATTERN": "labvault.settings.reading",
    "JWT_ALGORITHMS": "labvault.settings.schema",
    "Location": "labvault.home",
    "MIN_SECRET_KEY_LENGTH": "labvault.settings.schema",
    "PATH_SETTINGS": "labvault.settings.schema",
    "RATE_LIMIT_PATTERN": "labvault.settings.schema",
    "RETIRED_SETTINGS": "labvault.settings.schema",
    "ROLES": "labvault.settings.schema",
    "SETTING_NAMES": "labvault.settings.schema",
    "SettingsSchema": "labvault.settings.schema",
    "base_of": "labvault.settings.sources",
    "decode_environment_value": "labvault.settings.sources",
    "development_secret_key": "labvault.settings.validation",
    "flatten_errors": "labvault.settings.schema",
    "gather_raw_settings": "labvault.settings.sources",
    "inspect_settings": "labvault.settings.validation",
    "is_environment_reference": "labvault.settings.sources",
    "load_settings": "labvault.settings.validation",
    "locate_and_read_dotenv": "labvault.settings.sources",
    "parse_rate_limit": "labvault.settings.schema",
    "read_config_file": "labvault.settings.sources",
    "read_environment": "labvault.settings.sources",
    "validate_settings": "labvault.settings.validation",
}


__getattr__ = lazy_names(__name__, _MODULES)

__all__ = [
    "CONFIG_ENV_VAR",
    "DEFAULT_PROXY_HEADERS",
    "DEFAULT_RATE_LIMITS",
    "ENV_NAME_PATTERN",
    "ENV_PREFIX",
    "FORWARDED_HEADERS",
    "INSTANCE_MODE",
    "INTERVAL_PATTERN",
    "JWT_ALGORITHMS",
    "MIN_SECRET_KEY_LENGTH",
    "PATH_SETTINGS",
    "RATE_LIMIT_PATTERN",
    "RETIRED_SETTINGS",
    "ROLES",
    "SETTING_NAMES",
    "BackupStrategySchema",
    "DeploymentMetadataSchema",
    "Location",
    "SettingsSchema",
    "base_of",
    "decode_environment_value",
    "development_secret_key",
    "flatten_errors",
    "gather_raw_settings",
    "inspect_settings",
    "is_environment_reference",
    "load_settings",
    "locate_and_read_dotenv",
    "parse_rate_limit",
    "read_config_file",
    "read_environment",
    "validate_settings",
]
