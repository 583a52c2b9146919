"""The options of a GitHub sign-in instance (``AUTH_PROVIDERS = {"github": {...}}``)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from labvault.plugin import Secret
from marshmallow import fields, validate

#: One entry of ``org_allow_list``: an organisation's id or its name.
OrganisationEntry = int | str


class Organisation(fields.Field):
    """An organisation in ``org_allow_list``: its numeric id (preferred, it never changes)
    or its name (login), which is compared case-insensitively like GitHub does."""

    default_error_messages = {
        "invalid": "an organisation id (a positive whole number) or name (a text)",
    }

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> OrganisationEntry:
        # bool is an int to Python, but True is no organisation
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
        if isinstance(value, str) and value.strip():
            return value.strip()
        raise self.make_error("invalid")


def _base_url(default: str, description: str) -> fields.Url:
    # GitHub Enterprise Server often lives on an intranet name without a top-level domain
    return fields.Url(
        schemes={"http", "https"},
        require_tld=False,
        load_default=default,
        metadata={"description": description},
    )


class GitHubOptions(ma.Schema):
    """What a deployer sets for a GitHub sign-in instance."""

    class Meta:
        unknown = ma.RAISE

    client_id = fields.String(
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": "the OAuth app's client ID"},
    )
    client_secret = Secret(
        required=True,
        metadata={"description": 'the OAuth app\'s client secret, or {"env": "NAME"}'},
    )
    org_allow_list = fields.List(
        Organisation(),
        load_default=None,
        allow_none=True,
        metadata={
            "description": "None: anyone may register; []: no new accounts; a list of "
            "organisation ids or names: only their members sign in"
        },
    )
    web_url = _base_url("https://github.com", "where people sign in (GitHub Enterprise: its URL)")
    api_url = _base_url("https://api.github.com", "the REST API (GitHub Enterprise: URL/api/v3)")
    display_name = fields.String(load_default="GitHub", validate=validate.Length(min=1))
    timeout = fields.Float(
        load_default=10.0,
        validate=validate.Range(min=0, min_inclusive=False, max=300),
        metadata={"description": "seconds to wait for each answer of GitHub"},
    )

    @ma.post_load
    def _without_trailing_slashes(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        # paths are appended to these: "https://ghe.example.org/" + "/login/..." would double
        data["web_url"] = data["web_url"].rstrip("/")
        data["api_url"] = data["api_url"].rstrip("/")
        return data
