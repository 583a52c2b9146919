"""Serving stored content to browsers and API clients.

Downloads are always attachments under a cleaned name, with the content's sha256 as a
strong ETag, so conditional requests (304) and byte ranges (206, 416) come from werkzeug.
Media types a browser would run as a page or script are served as
``application/octet-stream``: an uploaded HTML or SVG file must never execute in
labvault's origin.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

import flask
from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.http import parse_range_header

from labvault.files.names import FALLBACK_MEDIA_TYPE, FALLBACK_NAME, safe_filename, split_extension
from labvault.files.storage import ContentMissing, FileStore

#: Rendered by browsers as documents that can run script.
ACTIVE_MEDIA_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/xml",
        "application/xml",
        "text/xsl",
        "application/xslt+xml",
        "application/x-shockwave-flash",
        "multipart/x-mixed-replace",
    }
)
_SCRIPT_WORDS = ("javascript", "ecmascript", "jscript", "vbscript")
# defence in depth, should a browser still render the body in place
CONTENT_SECURITY_POLICY = "default-src 'none'; sandbox"

_TOKEN = r"[A-Za-z0-9!#$%&'*+.^_`|~-]+"
_MEDIA_TYPE = re.compile(
    rf"{_TOKEN}/{_TOKEN}(?:[ \t]*;[ \t]*{_TOKEN}=(?:{_TOKEN}|\"[^\"\\\x00-\x1f\x7f]*\"))*"
)
# RFC 5987 attr-char beyond what urllib.parse.quote always leaves alone
_ATTR_CHARS = "!#$&+^`|"


def served_media_type(media_type: str) -> str:
    """The Content-Type to send for stored content: active or malformed types are bytes."""
    media_type = media_type.strip()
    if not _MEDIA_TYPE.fullmatch(media_type):
        return FALLBACK_MEDIA_TYPE
    essence = media_type.split(";", 1)[0].strip().lower()
    if (
        essence in ACTIVE_MEDIA_TYPES
        or essence.endswith(("+xml", "/xml"))
        or any(word in essence for word in _SCRIPT_WORDS)
    ):
        return FALLBACK_MEDIA_TYPE
    return media_type


def content_disposition_names(name: str) -> dict[str, str]:
    """``filename`` (ASCII) and, when that loses something, ``filename*`` (RFC 6266/5987)."""
    name = safe_filename(name)
    fallback = _ascii_fallback(name)
    names = {"filename": fallback}
    if fallback != name:
        names["filename*"] = "UTF-8''" + quote(name, safe=_ATTR_CHARS)
    return names


def _ascii_fallback(name: str) -> str:
    # NFKD splits "é" into "e" and an accent, which the ASCII encoding then drops
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    # some browsers percent-decode the plain filename parameter
    ascii_name = " ".join(ascii_name.replace("%", "_").split())
    stem, extension = split_extension(ascii_name)
    if not stem.strip(" ._-"):
        stem = FALLBACK_NAME
    return stem + extension


class RangeNotSatisfiable(RequestedRangeNotSatisfiable):
    """416 carrying ``Content-Range: bytes */<size>``, in flask-smorest's format too."""

    def __init__(self, size: int) -> None:
        message = f"the requested range is not within the file's {size} bytes"
        super().__init__(length=size, description=message)
        # flask-smorest's error handler takes the message and headers from ``data``
        self.data = {"message": message, "headers": {"Content-Range": f"bytes */{size}"}}


def _ignore_unusable_range(environ: dict[str, object]) -> None:
    """Drop a Range header that is not one byte range: one that cannot be parsed, names
    another unit, or asks for several ranges (not served as multipart). RFC 9110 (14.2)
    says to ignore such a header and send the whole content, where werkzeug would answer
    416; a single byte range outside the content still gets 416."""
    header = environ.get("HTTP_RANGE")
    if not isinstance(header, str):
        return
    parsed = parse_range_header(header)
    if parsed is None or parsed.units != "bytes" or len(parsed.ranges) != 1:
        del environ["HTTP_RANGE"]


def send_stored_file(
    store: FileStore,
    sha256: str,
    *,
    name: str,
    media_type: str,
    size: int,
    max_age: int | None = None,
) -> flask.Response:
    """A response for stored content, for the current request (Range, If-None-Match, ...).

    ``size`` is the size the database recorded; stored content that is missing or of
    another size raises :class:`ContentMissing`. ``max_age`` lets the client reuse its
    copy without asking; by default it revalidates with the ETag. Responses are
    ``private``: shared caches must not keep access-controlled data.
    """
    path = store.path_for(sha256)
    try:
        stored_size = path.stat().st_size
    except FileNotFoundError:
        raise ContentMissing(f"content {sha256} is missing from {store.root}") from None
    if stored_size != size:
        raise ContentMissing(
            f"content {sha256} in {store.root} has {stored_size} bytes, not {size}"
        )
    content_type = served_media_type(media_type)
    download_name = safe_filename(name)
    _ignore_unusable_range(flask.request.environ)
    try:
        response = flask.send_file(
            path,
            mimetype=content_type,
            as_attachment=True,
            download_name=download_name,
            conditional=True,
            etag=sha256,
            max_age=max_age,
        )
    except RequestedRangeNotSatisfiable:
        raise RangeNotSatisfiable(size) from None
    # werkzeug would claim charset=utf-8 for any text/*; the stored type says what is known
    response.headers["Content-Type"] = content_type
    response.headers.set(
        "Content-Disposition", "attachment", **content_disposition_names(download_name)
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.cache_control.public = False
    response.cache_control.private = True
    return response
