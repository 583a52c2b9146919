"""Where the tokens of a finished sign-in go: to ``next`` in the URL fragment, as JSON
to a client that asks for it, or onto a small page for a person to copy."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import jsonify, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from labvault.plugin import SessionTokens
from labvault.web.pages import page, private
from labvault.web.state import settings

_TOKENS = """<h1>Signed in</h1>
<p>Your access token works for {{ minutes }} minutes.
{%- if doc %} To try the API, open
<a href="{{ doc }}">the API documentation</a>, press <em>Authorize</em> and paste it:
{%- else %} Send it as <code>Authorization: Bearer &lt;token&gt;</code>:{% endif %}</p>
<textarea id="access-token" rows="6" readonly>{{ tokens.access_token }}</textarea>
<p>Scripts keep it fresh with the refresh token at <code>POST /auth/refresh</code>
(each refresh token works once; the session lasts until you sign out):</p>
<textarea id="refresh-token" rows="2" readonly>{{ tokens.refresh_token }}</textarea>
"""


def _page(tokens: SessionTokens) -> BaseResponse:
    """The page showing the tokens, linking to /doc when the server serves it."""
    doc = request.script_root + "/doc" if settings()["API_DOCS"] else None
    minutes = tokens.expires_in // 60
    return page(_TOKENS, "Signed in to labvault", tokens=tokens, minutes=minutes, doc=doc)


def token_fields(tokens: SessionTokens) -> dict[str, str | int]:
    return {
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "token_type": tokens.token_type,
        "expires_in": tokens.expires_in,
    }


def wants_json() -> bool:
    accept = request.accept_mimetypes
    return accept.best_match(["text/html", "application/json"]) == "application/json"


def deliver(tokens: SessionTokens, next_url: str | None) -> BaseResponse:
    """The answer to a finished sign-in (``next_url`` already checked)."""
    if next_url:
        response: BaseResponse = redirect(f"{next_url}#{urlencode(token_fields(tokens))}", 302)
    elif wants_json():
        response = jsonify(token_fields(tokens))
    else:
        response = _page(tokens)
    return private(response)
