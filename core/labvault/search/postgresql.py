"""PostgreSQL: a generated, weighted tsvector column with a GIN index
(:mod:`labvault.search.ddl`), ranked with ts_rank."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from labvault.search.words import TITLE_WEIGHT, Search


def search(query: sa.Select[Any], terms: list[str], _identifier_prefix: str) -> Search:
    # to_tsquery syntax in q cannot get through: words are letters and digits only
    tsquery = sa.func.to_tsquery(
        sa.literal_column("'simple'::regconfig"), " & ".join(f"{term}:*" for term in terms)
    )
    # the generated column PG_SEARCH_VECTOR, indexed by ft_items_search
    vector: sa.ColumnElement[Any] = sa.literal_column("items.search_vector")
    weights: sa.ColumnElement[Any] = sa.literal_column(
        f"'{{0, 0, {1 / TITLE_WEIGHT}, 1}}'::float4[]"
    )  # D C B A
    return query.where(vector.op("@@")(tsquery)), sa.func.ts_rank(weights, vector, tsquery)
