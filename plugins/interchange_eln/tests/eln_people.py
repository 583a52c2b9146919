"""A sign-in provider that knows people by ORCID iD (as auth_orcid does), registered as a
plugin of the tests' apps, so that exports name authors by it. A module of its own (not
conftest.py, a name every plugin's tests share in one pytest run)."""

from __future__ import annotations

from typing import Any

from labvault.plugin import AuthProvider, Identity, hookimpl

LABVAULT_PLUGIN_API = ">=2.0,<3"


class OrcidLike(AuthProvider):
    """Knows people by ORCID iD; signs nobody in by itself (tests hand it identities)."""

    name = "orcid_like"

    def person_identifier(self, subject: str) -> str | None:
        return f"https://orcid.org/{subject}"


@hookimpl
def labvault_auth_provider_types() -> list[type[AuthProvider]]:
    return [OrcidLike]


def link_orcid(app: Any, user: Any, orcid: str) -> None:
    """Link an ORCID identity to ``user``'s account, as a sign-in with ORCID does."""
    host = app.extensions["labvault"].plugins.hosts["orcid_like"]
    with app.app_context():
        host.sign_in(Identity("orcid", orcid), link_user_id=user.id)
