"""If-Match: updates name the version they were based on, so no edit is silently lost."""

from __future__ import annotations

import re
from typing import Any

from flask import request
from flask_smorest import abort

from labvault.web.bounds import IF_MATCH_SCHEMA

IF_MATCH_PARAMETER: dict[str, Any] = {
    "in": "header",
    "name": "If-Match",
    "required": True,
    "schema": IF_MATCH_SCHEMA,
    "description": "the ETag from when you read it; 428 without it (or with one that is "
    "not an ETag), 412 if it changed since",
}
_IF_MATCH = re.compile(IF_MATCH_SCHEMA["pattern"])


def if_match_tags() -> set[str]:
    """The entity tags If-Match names (weak or strong alike), or "*"; 428 without them.

    An If-Match that is empty, or not "*" or entity tags, names no version: as good as none.
    """
    header = request.headers.get("If-Match", "").strip()
    if not _IF_MATCH.match(header):
        abort(428, message="send If-Match with the ETag you read (GET it first)")
    return {tag.strip().removeprefix("W/") for tag in header.split(",")}


def check_if_match(current_etag: str) -> None:
    """428 without If-Match; 412 when it names another version than ``current_etag``."""
    tags = if_match_tags()
    if "*" not in tags and current_etag not in tags:
        abort(
            412,
            message="it changed since you read it: GET it again and re-apply your change",
            headers={"ETag": current_etag},
        )
