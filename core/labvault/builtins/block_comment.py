"""The ``comment`` block type: notes written in Markdown, stored as sanitized HTML.

The Markdown is rendered with markdown-it-py (CommonMark plus tables and strikethrough;
a single newline is a line break, as in a text box) and the result is cleaned with nh3,
an allow-list sanitizer: no scripts, no event handlers, no ``javascript:`` URLs, and
every link gets ``rel="noopener noreferrer"``. Raw HTML in the text is allowed *before*
cleaning so people can write ``H<sub>2</sub>O``; whatever is not on the list is dropped.

A comment shows the images of its own files (``file_ids``, which the core allows only
among its item's files), written as the API's path of the file,
``![plot](/files/12/content)``. Any other image would be fetched from elsewhere by
every reader's browser (a tracking pixel): a Markdown image becomes a link to it, and a
raw ``<img>`` keeps no ``src``, unless the deployer sets the option ``remote_images``.

Both libraries are imported on first use, so creating the app does not pay for them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

import marshmallow as ma

from labvault.plugin import BlockFile, BlockType, hookimpl

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.renderer import RendererHTML
    from markdown_it.token import Token
    from markdown_it.utils import OptionsDict

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
#: Files a comment may show as images: what browsers display.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".webp")
#: The API's path of a stored file's content.
_FILE_CONTENT = re.compile(r"/files/([1-9][0-9]{0,17})/content")

# markdown-it writes table alignment as style="text-align:right" and code languages as
# class="language-python"; those exact forms are kept, any other style or class is not.
_ALIGNMENT = re.compile(r"text-align:\s*(left|right|center);?")
_LANGUAGE_CLASS = re.compile(r"language-[\w+#.-]{1,40}")


class CommentOptions(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    remote_images = ma.fields.Boolean(
        load_default=False,
        metadata={"description": "show images from any address, not only the comment's files"},
    )


class CommentData(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    text = ma.fields.String(load_default="", validate=ma.validate.Length(max=1_000_000))


ImagePolicy = Callable[[str], bool]


def image_policy(file_ids: Sequence[int], *, remote: bool) -> ImagePolicy:
    """Whether an image's address may be shown: that of one of ``file_ids``, or any
    address the sanitizer lets through when ``remote``."""
    shown = frozenset(file_ids)

    def shows(src: str) -> bool:
        if remote:
            return True
        match = _FILE_CONTENT.fullmatch(src)
        return match is not None and int(match[1]) in shown

    return shows


@cache
def _markdown() -> MarkdownIt:
    from markdown_it import MarkdownIt

    markdown = MarkdownIt("commonmark", {"html": True, "breaks": True})
    markdown.enable(["table", "strikethrough"])
    markdown.add_render_rule("image", _image_or_link)
    return markdown


def _image_or_link(
    renderer: RendererHTML,
    tokens: Sequence[Token],
    index: int,
    options: OptionsDict,
    env: dict[str, Any],
) -> str:
    """A Markdown image as an image if the policy in ``env`` shows it, else as a link:
    the reader decides whether to fetch it."""
    from markdown_it.common.utils import escapeHtml

    token = tokens[index]
    src = str(token.attrGet("src") or "")
    if env["shows_image"](src):
        return renderer.image(tokens, index, options, env)
    text = renderer.renderInlineAsText(token.children or [], options, env) or src
    return f'<a href="{escapeHtml(src)}">{escapeHtml(text)}</a>'


def _attribute_filter(shows_image: ImagePolicy) -> Callable[[str, str, str], str | None]:
    def keep(tag: str, attribute: str, value: str) -> str | None:
        if attribute == "style":
            return value if _ALIGNMENT.fullmatch(value.strip()) else None
        if attribute == "class":
            return value if _LANGUAGE_CLASS.fullmatch(value) else None
        if tag == "img" and attribute == "src":  # raw HTML: the image keeps its alt text
            return value if shows_image(value) else None
        return value

    return keep


def render_markdown(text: str, shows_image: ImagePolicy) -> str:
    """Markdown ``text`` as HTML that is safe to insert into a page, with the images
    ``shows_image`` allows (see :func:`image_policy`)."""
    import nh3

    return nh3.clean(
        _markdown().render(text, {"shows_image": shows_image}),
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=_attribute_filter(shows_image),
        url_schemes=set(URL_SCHEMES),
        link_rel=LINK_REL,
        strip_comments=True,
    )


class Comment(BlockType):
    name = "comment"
    description = "Free text notes."
    OptionsSchema = CommentOptions
    DataSchema = CommentData
    accepted_file_extensions = IMAGE_EXTENSIONS

    def compute(self, data: Mapping[str, Any], files: list[BlockFile]) -> dict[str, Any]:
        policy = image_policy([f.id for f in files], remote=self.options["remote_images"])
        return {"html": render_markdown(str(data.get("text", "")), policy)}


@hookimpl
def labvault_block_types() -> list[type[BlockType]]:
    return [Comment]
