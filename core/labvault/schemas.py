"""Schema pieces every domain package shares."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

#: The largest id or counter: INTEGER holds 2**31 - 1 on MariaDB and PostgreSQL.
MAX_INT = 2**31 - 1
#: item_id and collection_id: readable in a URL as they are.
IDENTIFIER_PATTERN = r"^[A-Za-z0-9._~-]{1,40}$"
IDENTIFIER_ERROR = "1 to 40 letters, digits, '.', '_', '~' or '-'"


class Strict(ma.Schema):
    """A request schema that refuses fields it does not know (422), never ignores them."""

    class Meta:
        unknown = ma.RAISE


def Id(*, strict: bool = True, **kwargs: Any) -> fields.Integer:
    """An id (of a user, file, block...) in a request: 1 to MAX_INT, what every database
    holds. ``strict=False`` for query arguments, which arrive as text."""
    return fields.Integer(strict=strict, validate=validate.Range(min=1, max=MAX_INT), **kwargs)


class UserRefSchema(ma.Schema):
    id = fields.Integer()
    display_name = fields.String()
