"""The ``comment`` block type: notes written in Markdown, stored as sanitized HTML.

The Markdown is rendered with markdown-it-py (CommonMark plus tables and strikethrough;
a single newline is a line break, as in a text box) and the result is cleaned with nh3,
an allow-list sanitizer: no scripts, no event handlers, no ``javascript:`` URLs, and
every link gets ``rel="noopener noreferrer"``. Raw HTML in the text is allowed *before*
cleaning so people can write ``H<sub>2</sub>O``; whatever is not on the list is dropped.

Both libraries are imported on first use, so creating the app does not pay for them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

import marshmallow as ma

from labvault.plugin import BlockFile, BlockType, hookimpl

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

#: Tags the rendered Markdown may keep: what markdown-it produces, plus a few inline
#: tags that lab notes need (sub/sup for formulas, kbd, mark).
ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "dl", "dt",
        "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "mark",
        "ol", "p", "pre", "s", "small", "strong", "sub", "summary", "sup", "table",
        "tbody", "td", "th", "thead", "tr", "u", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "code": {"class"},
    "img": {"src", "alt", "title", "width", "height"},
    "ol": {"start"},
    "td": {"style", "colspan", "rowspan"},
    "th": {"style", "colspan", "rowspan"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer"

# markdown-it writes table alignment as style="text-align:right" and code languages as
# class="language-python"; those exact forms are kept, any other style or class is not.
_ALIGNMENT = re.compile(r"text-align:\s*(left|right|center);?")
_LANGUAGE_CLASS = re.compile(r"language-[\w+#.-]{1,40}")


class CommentData(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    text = ma.fields.String(load_default="", validate=ma.validate.Length(max=1_000_000))


@cache
def _markdown() -> MarkdownIt:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True, "breaks": True}).enable(
        ["table", "strikethrough"]
    )


def _keep_attribute(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "style":
        return value if _ALIGNMENT.fullmatch(value.strip()) else None
    if attribute == "class":
        return value if _LANGUAGE_CLASS.fullmatch(value) else None
    return value


def render_markdown(text: str) -> str:
    """Markdown ``text`` as HTML that is safe to insert into a page."""
    import nh3

    return nh3.clean(
        _markdown().render(text),
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=_keep_attribute,
        url_schemes=set(URL_SCHEMES),
        link_rel=LINK_REL,
        strip_comments=True,
    )


class Comment(BlockType):
    name = "comment"
    description = "Free text notes."
    DataSchema = CommentData
    max_files = 0

    def compute(self, data: Mapping[str, Any], files: list[BlockFile]) -> dict[str, Any]:
        return {"html": render_markdown(str(data.get("text", "")))}


@hookimpl
def labvault_block_types() -> list[type[BlockType]]:
    return [Comment]
