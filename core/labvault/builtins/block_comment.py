"""The ``comment`` block type: free text attached to an item."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import marshmallow as ma

from labvault.plugin import BlockType, hookimpl


class CommentData(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    text = ma.fields.String(load_default="", validate=ma.validate.Length(max=1_000_000))


class Comment(BlockType):
    name = "comment"
    description = "Free text notes."
    DataSchema = CommentData

    def compute(self, data: Mapping[str, Any], files: list[Any]) -> dict[str, Any]:
        paragraphs = [p.strip() for p in str(data.get("text", "")).split("\n\n") if p.strip()]
        rendered = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
        return {"html": rendered}


@hookimpl
def labvault_block_types() -> list[type[BlockType]]:
    return [Comment]
