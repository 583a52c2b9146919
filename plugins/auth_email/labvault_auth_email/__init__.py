"""labvault sign-in by a single-use link sent by mail.

Enable it with ``PLUGINS = ["auth_email"]`` and an instance of the ``email`` provider
type in ``AUTH_PROVIDERS``; README.md lists every option.
"""

from __future__ import annotations

from labvault.plugin import AuthProvider, hookimpl

from labvault_auth_email.provider import EmailLinkProvider

__all__ = ["EmailLinkProvider", "labvault_auth_provider_types"]


@hookimpl
def labvault_auth_provider_types() -> list[type[AuthProvider]]:
    return [EmailLinkProvider]
