"""Full-text search over items (name, item_id, refcode, description, type-specific text)."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labvault.items.models import Item

WORD = re.compile(r"\w+", re.UNICODE)


def words(q: str) -> list[str]:
    return WORD.findall(q.lower())[:10]


def apply_search(session: Session, query: sa.Select[Any], q: str) -> tuple[sa.Select[Any], Any]:
    """Restrict ``query`` to items matching every word of ``q`` (as prefixes).

    Returns the query and a relevance expression to order by (higher is better).
    """
    terms = words(q)
    if not terms:
        return query.where(sa.false()), sa.literal(0)
    for term in terms:
        pattern = f"%{term}%"
        query = query.where(
            sa.or_(Item.search_title.ilike(pattern), Item.search_body.ilike(pattern))
        )
    rank = sa.case((Item.search_title.ilike(f"%{terms[0]}%"), 1), else_=0)
    return query, rank
