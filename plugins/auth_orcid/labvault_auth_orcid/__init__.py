"""labvault-auth-orcid: sign in with ORCID, the researcher identifier.

Enable it with ``PLUGINS = ["auth_orcid"]`` and configure an instance of the ``orcid``
type::

    AUTH_PROVIDERS = {
        "orcid": {
            "type": "orcid",
            "client_id": "APP-...",
            "client_secret": {"env": "ORCID_CLIENT_SECRET"},
        },
    }

ORCID speaks OpenID Connect, so this provider is :class:`labvault_auth_oidc.OpenIDProvider`
with ORCID's issuer, the ``openid`` scope and ORCID iDs as subjects.
"""

from __future__ import annotations

from labvault.plugin import AuthProvider, hookimpl

from labvault_auth_orcid.provider import OrcidOptions, OrcidProvider, is_orcid_id

__all__ = ["OrcidOptions", "OrcidProvider", "is_orcid_id"]

#: The plugin API this plugin is written against (see plugins/README.md, "Plugin API versions").
LABVAULT_PLUGIN_API = ">=2.0,<3"


@hookimpl
def labvault_auth_provider_types() -> list[type[AuthProvider]]:
    return [OrcidProvider]
