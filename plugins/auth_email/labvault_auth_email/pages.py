"""The two pages a link opens: confirm signing in, or ask for a new link."""

from __future__ import annotations

from flask import Response, render_template_string

_LAYOUT_HEAD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:sans-serif;max-width:40em;margin:3em auto;padding:0 1em}
button{font-size:1.1em;padding:.4em 1.2em}</style></head><body>"""

_CONFIRM = (
    _LAYOUT_HEAD
    + """<h1>Sign in to labvault</h1>
<p>Sign in as <strong>{{ email }}</strong>?</p>
<form method="post" action="{{ action }}">
<input type="hidden" name="token" value="{{ token }}">
<button type="submit">Sign in</button>
</form>
<p>The link works once. If you did not ask to sign in, close this page.</p>
</body></html>
"""
)

_INVALID = (
    _LAYOUT_HEAD
    + """<h1>This link no longer works</h1>
<p>{{ message }}</p>
</body></html>
"""
)

#: Shown (and sent as JSON's message) for a link that is unknown, expired or used.
INVALID_LINK = (
    "This sign-in link is unknown, expired or already used. Request a new link where you signed in."
)

# The confirm page carries the token: no cache keeps it, no Referer sends its URL on
# (only the origin: under "no-referrer" a browser would post the form with "Origin:
# null", and the server refuses a form from another origin), no other site frames the
# page to trick a click on its button.
_PRIVATE_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "strict-origin",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'",
}


def _page(template: str, status: int, **context: str) -> Response:
    body = render_template_string(template, **context)
    return Response(body, status, headers=_PRIVATE_HEADERS, mimetype="text/html")


def confirm_page(*, email: str, token: str, action: str) -> Response:
    """The page a link opens: a button that posts the token (opening spends nothing)."""
    return _page(
        _CONFIRM, 200, title="Sign in to labvault", email=email, token=token, action=action
    )


def invalid_link_page() -> Response:
    """400: the link is unknown, expired or used; a new one must be requested."""
    return _page(_INVALID, 400, title="Sign-in link not valid", message=INVALID_LINK)
