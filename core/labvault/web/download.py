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
from typing import IO, cast
from urllib.parse import quote

import flask
from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.http import dump_options_header, parse_range_header
from werkzeug.wsgi import wrap_file

from labvault.files.names import FALLBACK_MEDIA_TYPE, FALLBACK_NAME, safe_filename, split_extension
from labvault.plugin import ContentMissing, FileStore, SeekableRange

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
#: Bytes read from a store at a time for a streamed download.
STREAM_CHUNK = 1 << 16
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
    ``private``: shared caches must not keep access-controlled data. A store that is
    not a folder of this machine streams the content (a range: only those bytes), or
    redirects to a short-lived URL of its own where the deployer allowed that.
    """
    info = store.stat(sha256)
    if info is None:
        raise ContentMissing(f"content {sha256} is missing from {store.location}")
    if info.size != size:
        raise ContentMissing(
            f"content {sha256} in {store.location} has {info.size} bytes, not {size}"
        )
    content_type = served_media_type(media_type)
    download_name = safe_filename(name)
    _ignore_unusable_range(flask.request.environ)
    path = store.local_path(sha256)
    try:
        if path is not None:
            response = flask.send_file(
                path,
                mimetype=content_type,
                as_attachment=True,
                download_name=download_name,
                conditional=True,
                etag=sha256,
                max_age=max_age,
            )
        else:
            response = _streamed(store, sha256, size, content_type, max_age)
    except RequestedRangeNotSatisfiable:
        raise RangeNotSatisfiable(size) from None
    if response.status_code != 304:
        disposition = dump_options_header("attachment", content_disposition_names(download_name))
        url = store.download_url(sha256, content_disposition=disposition, media_type=content_type)
        if url is not None:
            response.close()
            redirect = flask.redirect(url, 307)
            redirect.headers["Cache-Control"] = "private, no-store"
            return cast(flask.Response, redirect)
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


def _streamed(
    store: FileStore, sha256: str, size: int, content_type: str, max_age: int | None
) -> flask.Response:
    """What ``flask.send_file`` answers for a file, for content read from ``store``: a
    Range (after If-Range and If-None-Match) is asked of the store as it is."""
    reader = SeekableRange(lambda start, end: store.open(sha256, start, end), size)
    environ = flask.request.environ
    response = flask.current_app.response_class(
        wrap_file(environ, cast(IO[bytes], reader), STREAM_CHUNK),
        mimetype=content_type,
        direct_passthrough=True,
    )
    response.content_length = size
    response.set_etag(sha256)
    response.cache_control.no_cache = True
    if max_age is not None:
        if max_age > 0:
            response.cache_control.no_cache = None
        response.cache_control.max_age = max_age
    try:
        response.make_conditional(environ, accept_ranges=True, complete_length=size)
    except BaseException:
        reader.close()
        raise
    if response.status_code == 206 and response.content_range is not None:
        reader.end = response.content_range.stop or size
    elif response.status_code == 304:
        reader.close()
    return response
