"""The pages of signing in: one layout whose style is allowed by its hash, no script, no
cache, no Referer; a page with a form may post it only here (and its redirect may go
only where ``next`` allows)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Response, render_template_string
from werkzeug.wrappers import Response as BaseResponse

from labvault.web.browser import FORM_PAGE_REFERRER_POLICY
from labvault.web.headers import source_hash

_STYLE = """body{font-family:sans-serif;max-width:40em;margin:3em auto;padding:0 1em}
textarea{width:100%;font-family:monospace}button{font-size:1.1em;padding:.4em 1.2em}"""
_HEAD = (
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>"""
    + _STYLE
    + "</style></head>\n<body>"
)
_TAIL = "</body></html>\n"
#: The page may show its own style and nothing else (no script, no image, no frame).
_POLICY = f"default-src 'none'; style-src {source_hash(_STYLE.encode())}; frame-ancestors 'none'"


def private(response: BaseResponse) -> BaseResponse:
    """No cache keeps the answer, no Referer sends its URL on."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


def page(body: str, title: str, *, status: int = 200, **context: Any) -> BaseResponse:
    """A page of ``body`` (a Jinja template; values are escaped)."""
    html = render_template_string(_HEAD + body + _TAIL, title=title, **context)
    response = Response(html, status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = _POLICY
    return private(response)


def form_page(body: str, title: str, *, redirects_to: Iterable[str] = (), **context: Any) -> Any:
    """A page whose form posts to this server; the answer to the post may redirect to the
    origins ``redirects_to`` (a browser checks a form's redirects against form-action)."""
    response = page(body, title, **context)
    targets = " ".join(["'self'", *redirects_to])
    response.headers["Content-Security-Policy"] = f"{_POLICY}; form-action {targets}"
    # under "no-referrer" a browser would post the form with "Origin: null"
    response.headers["Referrer-Policy"] = FORM_PAGE_REFERRER_POLICY
    return response
