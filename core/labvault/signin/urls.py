"""URLs of a sign-in: the server's own (from PUBLIC_URL alone) and where tokens may go.

An absolute URL of the server (a provider's callback, a link in a mail) is built from
PUBLIC_URL and never from the request: its ``Host`` (or, behind a proxy,
``X-Forwarded-Host``) is whatever the client sent, and a link pointing at an attacker's
host would hand them the secret it carries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from labvault.errors import Invalid, ServerFault
from labvault.plugin import AuthProvider

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an absolute http(s) URL (default port left out)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or "@" in parts.netloc:
        return None
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    keep_port = port is not None and port != _DEFAULT_PORTS[parts.scheme]
    return f"{parts.scheme}://{host}{f':{port}' if keep_port else ''}"


def external_url(path: str, public_url: str | None) -> str:
    """The absolute URL of one of the server's paths (relative to its root), under
    ``public_url``. Startup requires PUBLIC_URL wherever a provider needs this, so its
    absence here is a server fault, said as such."""
    if not public_url:
        raise ServerFault(
            "PUBLIC_URL is not set, so this server cannot build a link to itself; "
            "the deployer sets it in config.py"
        )
    return public_url.rstrip("/") + "/" + path.lstrip("/")


def public_url_problems(public_url: str | None, providers: Mapping[str, AuthProvider]) -> list[str]:
    """A config problem for each sign-in provider that sends URLs of the server while
    PUBLIC_URL is unset."""
    if public_url:
        return []
    fix = (
        "set PUBLIC_URL to the address people reach labvault at (e.g. "
        '"https://labvault.example.org"): links and callbacks are never built from the '
        "Host a request names"
    )
    return [
        f"AUTH_PROVIDERS.{name}: this sign-in provider "
        f"{'redirects' if provider.redirects else 'mails links'}; {fix}"
        for name, provider in sorted(providers.items())
        if provider.needs_public_url
    ]


def check_next_url(
    url: str | None, allowed_origins: Sequence[str], location: str = "query"
) -> str | None:
    """``url`` when its origin is one of ``allowed_origins``; Invalid otherwise."""
    if url is None:
        return None
    if not url.isprintable() or any(character.isspace() for character in url):
        # Python's URL parser drops line breaks, but a Location header must not hold them
        raise Invalid(
            "next must be a URL without spaces, line breaks or control characters",
            {"next": ["holds a space, a line break or another control character"]},
            location=location,
        )
    allowed = {origin_of(origin) for origin in allowed_origins}
    origin = origin_of(url)
    if origin is None or origin not in allowed:
        raise Invalid(
            "tokens are only sent to the origins in ALLOWED_REDIRECT_ORIGINS",
            {"next": [f"{url!r} is not on an allowed origin"]},
            location=location,
        )
    return url.split("#", 1)[0]
