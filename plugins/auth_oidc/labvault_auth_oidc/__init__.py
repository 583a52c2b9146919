"""labvault-auth-oidc: sign in with any OpenID Connect provider, found from its issuer.

Enable it with ``PLUGINS = ["auth_oidc"]`` and configure instances of the ``oidc`` type::

    AUTH_PROVIDERS = {
        "uni": {"type": "oidc", "issuer": "https://login.uni.example", "client_id": "..."},
    }

Other provider types built on OpenID Connect (ORCID, ...) subclass
:class:`OpenIDProvider`. ``labvault_auth_oidc.testing`` has a stand-in provider for tests.
"""

from __future__ import annotations

from labvault.plugin import AuthProvider, hookimpl

from labvault_auth_oidc.options import OpenIDOptions, admitted, load_options
from labvault_auth_oidc.provider import OpenIDProvider

__all__ = ["OpenIDOptions", "OpenIDProvider", "admitted", "load_options"]

#: The plugin API this plugin is written against (see plugins/README.md, "Plugin API versions").
LABVAULT_PLUGIN_API = ">=2.0,<3"


@hookimpl
def labvault_auth_provider_types() -> list[type[AuthProvider]]:
    return [OpenIDProvider]
