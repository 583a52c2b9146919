"""labvault plugin: sign in with GitHub (provider type ``"github"``).

Enable it with ``PLUGINS = ["auth_github"]`` and configure an instance::

    AUTH_PROVIDERS = {
        "github": {
            "type": "github",
            "client_id": "Ov23li0123456789abcd",
            "client_secret": {"env": "GITHUB_CLIENT_SECRET"},
            "org_allow_list": [1234567, "my-lab"],
        }
    }
"""

from __future__ import annotations

from labvault.plugin import AuthProvider, hookimpl

from labvault_auth_github.provider import GitHubLogin

__all__ = ["GitHubLogin"]

#: The plugin API this plugin is written against (see plugins/README.md, "Plugin API versions").
LABVAULT_PLUGIN_API = ">=2.0,<3"


@hookimpl
def labvault_auth_provider_types() -> list[type[AuthProvider]]:
    return [GitHubLogin]
