"""labvault sign-in by a single-use link sent by mail.

Enable it with ``PLUGINS = ["auth_email"]`` and an instance of the ``email`` provider
type in ``AUTH_PROVIDERS``; README.md lists every option.
"""

from __future__ import annotations

from labvault.plugin import AuthProvider, JobType, hookimpl

from labvault_auth_email.jobs import SignInMail
from labvault_auth_email.provider import EmailLinkProvider

__all__ = ["EmailLinkProvider", "SignInMail", "labvault_auth_provider_types", "labvault_job_types"]

#: The plugin API this plugin is written against (see plugins/README.md, "Plugin API versions").
LABVAULT_PLUGIN_API = ">=2.1,<3"


@hookimpl
def labvault_auth_provider_types() -> list[type[AuthProvider]]:
    return [EmailLinkProvider]


@hookimpl
def labvault_job_types() -> list[type[JobType]]:
    return [SignInMail]
