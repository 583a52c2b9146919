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

from labvault.home import CONFIG_ENV_VAR, Location
from labvault.settings.schema import (
    DEFAULT_PROXY_HEADERS,
    DEFAULT_RATE_LIMITS,
    ENV_NAME_PATTERN,
    ENV_PREFIX,
    FORWARDED_HEADERS,
    INSTANCE_MODE,
    INTERVAL_PATTERN,
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
    base_of,
    decode_environment_value,
    gather_raw_settings,
    locate_and_read_dotenv,
    read_config_file,
    read_environment,
)
from labvault.settings.validation import (
    development_secret_key,
    inspect_settings,
    is_environment_reference,
    load_settings,
    validate_settings,
)

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
