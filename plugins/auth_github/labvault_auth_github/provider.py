"""The "github" sign-in provider type: GitHub's OAuth app flow with PKCE."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from labvault.plugin import (
    AuthorizationCallback,
    AuthorizationRequest,
    AuthProvider,
    Host,
    Identity,
    Unauthenticated,
)

from labvault_auth_github.github_api import GitHubAccount, GitHubClient
from labvault_auth_github.options import GitHubOptions, OrganisationEntry


class GitHubLogin(AuthProvider):
    """Sign in with a GitHub account through an OAuth app (github.com or GitHub
    Enterprise Server); ``org_allow_list`` can let in only members of organisations.

    The identity's subject is GitHub's numeric user id, which never changes (a login
    can be renamed and then taken by someone else). Its groups are the user's
    organisations, as ``id:<id>`` and ``name:<lowercased name>``, for :meth:`admits`.
    """

    name = "github"
    display_name = "GitHub"
    description = "Sign in with GitHub, optionally only members of given organisations"
    OptionsSchema = GitHubOptions

    def __init__(self, instance_name: str, options: Mapping[str, Any], host: Host) -> None:
        super().__init__(instance_name, options, host)
        self.github = GitHubClient(
            client_id=options["client_id"],
            client_secret=options["client_secret"],
            web_url=options["web_url"],
            api_url=options["api_url"],
            timeout=options["timeout"],
            label=self.label,
            logger=host.logger,
        )

    def authorization_url(self, request: AuthorizationRequest) -> str:
        return self.github.authorization_url(
            request.redirect_uri, request.state, request.code_verifier
        )

    def identity_from_callback(self, callback: AuthorizationCallback) -> Identity:
        code = callback.params.get("code", "")
        if not code:
            raise Unauthenticated(f"{self.label} sent no sign-in code back; start again")
        access_token = self.github.exchange_code(
            code, callback.redirect_uri, callback.code_verifier
        )
        return self.identity_of(self.github.account(access_token))

    def identity_of(self, account: GitHubAccount) -> Identity:
        """The labvault identity of a GitHub account."""
        organisations = account.organisations
        return Identity(
            provider=self.instance_name,
            subject=str(account.id),
            email=account.verified_email,
            email_verified=account.verified_email is not None,
            display_name=account.name or account.login,
            groups=(
                *(f"id:{org.id}" for org in organisations),
                *(f"name:{org.login.lower()}" for org in organisations if org.login),
            ),
        )

    def allow_list(self) -> Sequence[str] | None:
        listed: list[OrganisationEntry] | None = self.options["org_allow_list"]
        return None if listed is None else [str(entry) for entry in listed]

    def admits(self, identity: Identity) -> bool:
        groups = set(identity.groups)
        return any(_group_of(entry) in groups for entry in self.options["org_allow_list"] or ())


def _group_of(entry: OrganisationEntry) -> str:
    """How an allow-list entry appears among an identity's groups (an id and a name made
    of digits never match each other)."""
    return f"id:{entry}" if isinstance(entry, int) else f"name:{entry.lower()}"
