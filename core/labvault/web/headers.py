"""Security headers on every answer: what a browser may do with it.

Every response says ``nosniff``, may not be framed, sends no Referer on, and carries a
Content-Security-Policy that lets a page do nothing at all: the API answers JSON, and a
JSON body opened as a page must not run anything. Swagger UI at /doc gets a policy it
works under: scripts and styles from this server only, its one inline script allowed
by its hash (computed from the page as served, since the script holds the spec's URL,
which a path prefix behind a proxy changes), images from here or ``data:``, requests
to this server only.

HSTS is sent over HTTPS only: served directly, or as the reverse proxy reports it
(``X-Forwarded-Proto``, trusted with PROXY_HOPS and PROXY_HEADERS). Over plain http it
would pin a host name to HTTPS that may not have it yet.

A header the response already has is kept: downloads and sign-in pages set their own
policy, and a header is never sent twice.
"""

from __future__ import annotations

import base64
import hashlib
import re

from flask import Flask, Response, request

#: The policy of everything but /doc: no scripts, styles, images, frames or requests.
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
HSTS = "max-age=31536000; includeSubDomains"
COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
#: An inline script: a script element without attributes (with src it loads a file).
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def source_hash(source: bytes) -> str:
    """A CSP source allowing one inline script or style: ``'sha256-...'`` of its text."""
    digest = base64.b64encode(hashlib.sha256(source).digest()).decode()
    return f"'sha256-{digest}'"


def doc_page_policy(html: bytes) -> str:
    """The policy of a Swagger UI page: its files from here, its inline scripts by hash."""
    hashes = "".join(f" {source_hash(script)}" for script in _INLINE_SCRIPT.findall(html))
    return (
        f"default-src 'none'; script-src 'self'{hashes}; style-src 'self'; "
        "img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'"
    )


#: The headers every answer gets unless it has them, with their names in lower case
#: (HTTP header names are case-insensitive): built once, looked up in one pass.
_COMMON = [(name.lower(), name, value) for name, value in COMMON_HEADERS.items()]
_CSP = "Content-Security-Policy"


def init_security_headers(app: Flask, doc_endpoint: str) -> None:
    """Add the headers to every response of ``app``; ``doc_endpoint`` serves Swagger UI."""

    def add_security_headers(response: Response) -> Response:
        headers = response.headers
        present = {name.lower() for name, _ in headers}  # (name, value) pairs
        for lower, name, value in _COMMON:
            if lower not in present:
                headers.add(name, value)
        if _CSP.lower() not in present:
            is_doc_page = request.endpoint == doc_endpoint and response.mimetype == "text/html"
            headers[_CSP] = doc_page_policy(response.get_data()) if is_doc_page else API_POLICY
        if request.is_secure:
            headers.setdefault("Strict-Transport-Security", HSTS)
        return response

    app.after_request(add_security_headers)
