"""If-Match: updates name the version they were based on, so no edit is silently lost."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_smorest import abort

IF_MATCH_PARAMETER: dict[str, Any] = {
    "in": "header",
    "name": "If-Match",
    "required": True,
    "schema": {"type": "string"},
    "description": "the ETag from when you read it; 428 without it, 412 if it changed since",
}


def check_if_match(current_etag: str) -> None:
    """428 without If-Match; 412 when it names another version than ``current_etag``."""
    header = request.headers.get("If-Match")
    if header is None:
        abort(428, message="send If-Match with the ETag you read (GET it first)")
    assert header is not None
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    if "*" not in tags and current_etag not in tags:
        abort(
            412,
            message="it changed since you read it: GET it again and re-apply your change",
            headers={"ETag": current_etag},
        )
