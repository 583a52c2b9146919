"""Schema pieces every domain package shares."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

#: item_id and collection_id: readable in a URL as they are.
IDENTIFIER_PATTERN = r"^[A-Za-z0-9._~-]{1,40}$"
IDENTIFIER_ERROR = "1 to 40 letters, digits, '.', '_', '~' or '-'"


class Strict(ma.Schema):
    """A request schema that refuses fields it does not know (422), never ignores them."""

    class Meta:
        unknown = ma.RAISE


class UserRefSchema(ma.Schema):
    id = fields.Integer()
    display_name = fields.String()
