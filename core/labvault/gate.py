"""The body parser of every Blueprint, the core's and plugins' alike
(:class:`labvault.plugin.Blueprint`): a body the API does not take is refused here,
with a 4xx, and never reaches a service or the database.

- A body must come in a media type the operation accepts (415 otherwise), so a body
  sent as text is not silently ignored and answered with "missing field".
- No NUL character in a JSON string (422): no database stores one in text.
- JSON must be UTF-8 text a client could have meant: no unpaired UTF-16 surrogates
  (``"\\udc00"`` decodes in Python but no database can store it), no NaN or Infinity, no
  number literal longer than ``MAX_NUMBER_LENGTH`` characters and no nesting deeper than
  ``MAX_JSON_DEPTH`` (400).
- A multipart body may hold only the fields its schema declares (422, as for JSON).

What comes before a body is parsed (its size, a NUL in the URL, ids out of range) is the
web layer's (:mod:`labvault.web.bounds`), which also documents these answers in
/openapi.json.
"""

from __future__ import annotations

import json
from typing import Any

import marshmallow as ma
from flask import Request
from flask_smorest import abort
from webargs import core
from webargs.flaskparser import FlaskParser
from webargs.multidictproxy import MultiDictProxy
from werkzeug.datastructures import CombinedMultiDict, MultiDict

#: Deeper JSON is refused: no labvault body nests more than a few levels.
MAX_JSON_DEPTH = 64
#: Characters of one number literal; Python would spend seconds on a million digits.
MAX_NUMBER_LENGTH = 100

JSON = "application/json"
MULTIPART = "multipart/form-data"


class MalformedJSON(ValueError):
    """A request body that is not JSON labvault takes; the message says why."""


def load_json(raw: bytes) -> Any:
    """Decode a JSON body, refusing what :mod:`json` would accept but no client meant."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedJSON(f"the body is not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        data = json.loads(
            text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_no_constant
        )
    except RecursionError:
        raise MalformedJSON(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        raise MalformedJSON(
            f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    _check_tree(data)
    return data


def _check_number(literal: str) -> None:
    if len(literal) > MAX_NUMBER_LENGTH:
        raise MalformedJSON(f"a number longer than {MAX_NUMBER_LENGTH} characters")


def _parse_int(literal: str) -> int:
    _check_number(literal)
    return int(literal)


def _parse_float(literal: str) -> float:
    _check_number(literal)
    return float(literal)


def _no_constant(name: str) -> Any:
    raise MalformedJSON(f"{name} is not a JSON number")


class UnstorableText(MalformedJSON):
    """JSON well formed, but with text no database stores (422)."""


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise UnstorableText(f"a string holds a NUL character (\\u0000): {NO_NUL}")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedJSON(
                "a string holds an unpaired UTF-16 surrogate (\\ud800 to \\udfff), "
                "which is not text"
            ) from None


def _check_tree(data: Any) -> None:
    """Depth and text of a decoded document, walked without recursion."""
    pending: list[tuple[Any, int]] = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            _check_text(value)
        elif isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise MalformedJSON(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
            if isinstance(value, dict):
                for key in value:
                    _check_text(key)
                value = value.values()
            pending.extend((child, depth + 1) for child in value)


#: Why text with NUL is refused.
NO_NUL = "no database stores it in text"


def has_body(request: Request) -> bool:
    return bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "")


def require_media_type(request: Request, accepted: str) -> bool:
    """True when the body comes as ``accepted``; False when there is none; else 415."""
    if request.mimetype == accepted:
        return True
    if not request.mimetype and not has_body(request):
        return False
    abort(
        415,
        message=f"send the body as {accepted} (it came as {request.mimetype or 'no media type'})",
    )
    raise AssertionError("unreachable")


class RequestParser(FlaskParser):
    """webargs' Flask parser, with the gate's checks on JSON and multipart bodies."""

    #: a multipart field no schema declares is refused, like an unknown JSON field
    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "files": ma.RAISE}

    def load_json(self, req: Request, schema: ma.Schema) -> Any:
        if not require_media_type(req, JSON):
            return core.missing
        raw = req.get_data(cache=True)
        if not raw:
            return core.missing
        try:
            return load_json(raw)
        except MalformedJSON as exc:
            status = 422 if isinstance(exc, UnstorableText) else 400
            abort(status, message=str(exc), messages={"json": [str(exc)]})

    def load_files(self, req: Request, schema: ma.Schema) -> Any:
        # the form's text fields too, so that a strict schema refuses those it does not know
        if not require_media_type(req, MULTIPART):
            return core.missing
        parts: MultiDict[Any, Any] = CombinedMultiDict([req.files, req.form])
        if None in parts:  # werkzeug names a part whose name it cannot parse None
            parts = MultiDict([(name or "", value) for name, value in parts.items(multi=True)])
        return MultiDictProxy(parts, schema)
