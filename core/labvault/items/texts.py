"""What full-text search reads of an item: its title and its body, two texts the service
keeps in ``search_title`` and ``search_body`` (:func:`search_texts`), in step with the
item; :mod:`labvault.search` indexes and searches them."""

from __future__ import annotations

import re
from typing import Any

from labvault.items import types
from labvault.items.models import Item

#: Hyphenated words: "64-17-5", "S-12", "Li-ion".
COMPOUND = re.compile(r"\w+(?:-\w+)+")


def compounds(text: str) -> str:
    """The hyphenated words of ``text`` joined with "_" ("64-17-5" gives "64_17_5").

    The search texts carry them besides the words themselves: InnoDB indexes no word
    shorter than three letters, so without them a CAS number or an item_id like "S-12"
    could only be found by reading every item. "_" keeps them one word to InnoDB; the other
    databases split them into the same words again.
    """
    # the words found have no space: joined first, one replace does them all
    return " ".join(COMPOUND.findall(text)).replace("-", "_")


def search_texts(item: Item) -> tuple[str, str]:
    """The item's title (name, item_id, refcode and its type's title fields) and body
    (description, its type's body fields, constituent names), each with its
    :func:`compounds`."""
    return texts_of(item.type, item.name, item.item_id, item.refcode, item.description, item.fields)


def texts_of(
    item_type: str,
    name: str,
    item_id: str,
    refcode: str,
    description: str,
    fields: dict[str, Any],
) -> tuple[str, str]:
    """:func:`search_texts` of an item's column values (an item inserted in bulk has no
    :class:`Item` object). An item of a type no enabled plugin provides is searched by
    the fields every item has."""
    catalogue = types.current()
    if item_type in catalogue:
        info = catalogue.info(item_type)
        title_fields, body_fields, linked = info.title_fields, info.body_fields, info.derived_links
    else:
        title_fields = body_fields = ()
        linked = {}
    names = [
        entry.get("name") or ""
        for field in linked
        for entry in _listed(fields.get(field))
        if isinstance(entry, dict)
    ]
    title = " ".join(
        filter(None, [name, item_id, refcode, *(str(fields.get(f) or "") for f in title_fields)])
    )
    parts = [description, *(str(fields.get(f) or "") for f in body_fields), *names]
    body = " ".join(p for p in parts if p)
    return f"{title} {compounds(title)}".strip()[:700], f"{body} {compounds(body)}".strip()


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
