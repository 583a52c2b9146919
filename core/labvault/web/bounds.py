"""What a request may be, checked before a handler runs, and documented for every
operation in /openapi.json: input the API does not take is refused with a 4xx and never
reaches a service or the database. (A body's media type and content are the parser's,
:mod:`labvault.gate`.)

- A body is at most as large as its kind may be (413 otherwise, on its Content-Length
  before a byte is read, or when a chunked body passes the limit): a file upload
  (multipart/form-data, streamed to disk) MAX_CONTENT_LENGTH, any other body (JSON, a
  form, raw bytes: held in memory) MAX_JSON_LENGTH. The text fields of an upload are
  held in memory too: at most ``MAX_FORM_PARTS`` parts, each text field at most
  ``MAX_FORM_FIELD_LENGTH`` bytes. :class:`BoundedRequest` is the request class that
  says so, for the routes of plugins as for the core's; a route that takes a raw file
  as its body sets ``request.max_content_length`` itself before reading it.
- No NUL character in the path or the query (422): no database stores one in text.
- Integers are bounded to what every supported database stores: ids and counters are
  INTEGER columns on MariaDB and PostgreSQL (:data:`labvault.schemas.MAX_INT`). Path ids
  out of range match no route (404); query and body integers are validated by their
  fields (:func:`labvault.schemas.Id`), which the OpenAPI document shows.

:class:`ContractPlugin` documents on every operation the answers the gate and If-Match
give.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import IO, Any, cast

import flask
from apispec import BasePlugin
from flask import current_app, request
from flask_smorest import abort
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import IntegerConverter, Map
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream, get_input_stream

from labvault.gate import JSON, MULTIPART, NO_NUL
from labvault.schemas import MAX_INT

#: Parts a multipart body may have, files and text fields together: no form labvault
#: takes has more than a few.
MAX_FORM_PARTS = 16
#: Bytes a text field of a multipart body may have. werkzeug's parser holds one read of
#: 64 KiB, and what it has not parsed yet, within this bound, files' parts too.
MAX_FORM_FIELD_LENGTH = 128 * 1024


def refuse_nul_characters() -> None:
    """A path or query parameter with a NUL character is 422 (before_request): no
    database stores one in text, and PostgreSQL refuses even to compare with it."""
    if "\x00" in request.path or any(
        "\x00" in name or "\x00" in value for name, value in request.args.items(multi=True)
    ):
        abort(422, message=f"the URL holds a NUL character (%00): {NO_NUL}")


class BoundedRequest(flask.Request):
    """Flask's request, whose body may be as large as its kind allows: a file upload
    (multipart/form-data) MAX_CONTENT_LENGTH, every other body MAX_JSON_LENGTH (the
    app's config, see :func:`body_limits`). A route that sets ``max_content_length``
    (Flask 3.1) before it reads the body decides for itself."""

    @property
    def is_upload(self) -> bool:
        return self.mimetype == MULTIPART

    @property
    def max_content_length(self) -> int | None:
        if self._max_content_length is not None or not current_app:
            return super().max_content_length
        limit: int = current_app.config[
            "MAX_CONTENT_LENGTH" if self.is_upload else "MAX_JSON_LENGTH"
        ]
        return limit

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value

    @cached_property
    def stream(self) -> IO[bytes]:
        stream = get_input_stream(self.environ, max_content_length=self.max_content_length)
        if self.content_length is None and isinstance(stream, LimitedStream):
            return cast(IO[bytes], _NothingPastTheLimit(stream, self.input_stream))
        return stream

    def too_large(self) -> str:
        """What a 413 answer says: the limit this body passed."""
        if not self.is_upload:
            return (
                f"the body is too large: at most {self.max_content_length} bytes for a body "
                "that is not a file upload"
            )
        return (
            f"the body is too large: at most {self.max_content_length} bytes for a file "
            f"upload (multipart/form-data), in at most {self.max_form_parts} parts, each "
            f"text field at most {self.max_form_memory_size} bytes"
        )


class _NothingPastTheLimit(io.RawIOBase):
    """A body without Content-Length (chunked), bounded by max_content_length.
    werkzeug's LimitedStream stops reading it at the limit without telling whether it
    went on, so a larger body would be read cut short: here it looks one byte further,
    and a body that goes on is too large (413)."""

    def __init__(self, bounded: LimitedStream, raw: IO[bytes]) -> None:
        self._bounded, self._raw = bounded, raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._bounded.is_exhausted:
            return self._bounded.readinto(buffer) or 0
        if self._raw.read(1):
            raise RequestEntityTooLarge()
        return 0


def body_limits(max_upload_length: int, max_json_length: int) -> dict[str, int]:
    """The app's config for :class:`BoundedRequest`: a file upload at most
    ``max_upload_length`` bytes, any other body at most ``max_json_length``."""
    return {
        "MAX_CONTENT_LENGTH": max_upload_length,
        "MAX_JSON_LENGTH": max_json_length,
        "MAX_FORM_PARTS": MAX_FORM_PARTS,
        "MAX_FORM_MEMORY_SIZE": MAX_FORM_FIELD_LENGTH,
    }


class BoundedIntegerConverter(IntegerConverter):
    """Flask's ``int`` converter, matching only ids a database can hold (0 to MAX_INT)."""

    def __init__(
        self,
        map: Map,
        fixed_digits: int = 0,
        min: int | None = None,
        max: int | None = MAX_INT,
        signed: bool = False,
    ) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def bounded_integer_parameter(converter: BoundedIntegerConverter) -> dict[str, Any]:
    """How the OpenAPI document shows a path integer."""
    low = converter.min if converter.min is not None else (None if converter.signed else 0)
    schema: dict[str, Any] = {"type": "integer", "maximum": converter.max}
    if low is not None:
        schema["minimum"] = low
    return schema


# --- the answers every operation documents ---------------------------------------------

#: Answered by the gate to any operation with a body.
BODY_RESPONSES = {
    "413": "the body is larger than this server takes (GET /info: max_json_size, and "
    "max_upload_size for a file upload)",
    "415": "the body is not in a media type this operation takes",
}
#: Answered by the gate to a JSON body.
JSON_RESPONSES = {"400": "the body is not JSON labvault takes (the message says why)"}
#: Answered to an operation that takes If-Match (:mod:`labvault.web.conditional`).
IF_MATCH_RESPONSES = {
    "412": "it changed since you read it (If-Match names another version)",
    "428": "If-Match is missing",
}


#: If-Match as RFC 9110 writes it: "*" or entity tags (an empty or malformed one is none)
IF_MATCH_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": r'^(\*|(W/)?"[!#-~]*"( *, *(W/)?"[!#-~]*")*)$',
}


class ContractPlugin(BasePlugin):
    """An apispec plugin: every operation documents the gate's and If-Match's answers,
    a 204 answer has no content, and If-Match is shown as RFC 9110 writes it."""

    def parameter_helper(self, parameter: dict[str, Any], **_: Any) -> dict[str, Any]:
        # flask-smorest's IF_MATCH component, used by its @etag (GET/PATCH /users/<id>)
        if parameter.get("in") == "header" and parameter.get("name") == "If-Match":
            return {"schema": {**parameter.get("schema", {}), **IF_MATCH_SCHEMA}}
        return {}

    def operation_helper(
        self, path: str | None = None, operations: Mapping[str, Any] | None = None, **_: Any
    ) -> None:
        for operation in (operations or {}).values():
            responses = operation.setdefault("responses", {})
            added: dict[str, str] = {}
            body = operation.get("requestBody")
            if body:
                added |= BODY_RESPONSES
                if JSON in body.get("content", {}):
                    added |= JSON_RESPONSES
            if any(
                isinstance(p, dict) and p.get("in") == "header" and p.get("name") == "If-Match"
                for p in operation.get("parameters", [])
            ):
                added |= IF_MATCH_RESPONSES
            for status, description in added.items():
                responses.setdefault(
                    status, {"description": description, "content": {JSON: {"schema": "Error"}}}
                )
            for no_content in ("204", 204):
                if no_content in responses:
                    responses[no_content].pop("content", None)
