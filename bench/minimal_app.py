"""The baseline of ``bench/api.py``: Flask + SQLAlchemy core + PyJWT and no labvault code.

It reads labvault's tables and answers the three measured requests with the same data
labvault returns, written as plainly as possible, so the ratio shows what labvault's
layers (flask-smorest, marshmallow, the ORM, its auth and permission code) cost:

- ``GET /items/<refcode>``: HS256 bearer token checked as labvault checks it (algorithm,
  audience, issuer, required claims) and the user loaded; then the item readable by that
  user with its creators, collections and relationships (to items the user may read);
- ``GET /items?page=&page_size=``: items the user may read, newest first, with the
  total in ``X-Pagination`` (counted up to 1,000 from the page on, as labvault counts);
- ``GET /items?q=`` the same with labvault's full-text search: the newest 1,000
  matches, best first;
- ``GET /items?type=T&field.F.gte=v`` (``gt``, ``lte``, ``lt``, or ``field.F=v``): the
  list of items of type T whose number field F meets the condition, read from labvault's
  side table of filterable fields (``item_field_values``).

The SQL is labvault's (items/access.py, search/, paging.py), written out by
hand. Configured by
environment variables: BENCH_DATABASE_URL, BENCH_SECRET_KEY, BENCH_ISSUER.
Served by ``gunicorn bench.minimal_app:app``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from typing import Any

import jwt
import sqlalchemy as sa
from flask import Flask, abort, request

AUDIENCE = "labvault-api"
REQUIRED_CLAIMS = ["sub", "iat", "nbf", "exp", "jti", "iss", "aud"]
LAB_WIDE = "'starting_material', 'equipment'"
SUMMARY_COLUMNS = "i.refcode, i.item_id, i.type, i.name, i.status, i.date, i.created_at, " + (
    "i.updated_at, i.version"
)
WORD = re.compile(r"\w+")
#: ``field.F`` and ``field.F.gte`` (gt, lte, lt) arguments: a number field's condition
FIELD_FILTER = re.compile(r"^field\.(\w{1,40})(?:\.(gte|gt|lte|lt))?$")
OPERATORS = {None: "=", "gte": ">=", "gt": ">", "lte": "<=", "lt": "<"}

app = Flask(__name__)
engine = sa.create_engine(os.environ["BENCH_DATABASE_URL"])


def _mroonga() -> bool:
    if engine.dialect.name != "mysql":
        return False
    with engine.connect() as connection:
        found = connection.exec_driver_sql(
            "SELECT ENGINE FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'items_search'"
        ).scalar()
    return str(found).lower() == "mroonga"


MROONGA = _mroonga()
secret = os.environ["BENCH_SECRET_KEY"]
issuer = os.environ["BENCH_ISSUER"]


def readable(user: sa.Row[Any]) -> str:
    """labvault's read permission as SQL over ``items i`` (binds ``:uid``)."""
    if user.role in ("manager", "admin"):
        return "1 = 1"
    return (
        f"(i.type IN ({LAB_WIDE})"
        " OR EXISTS (SELECT 1 FROM item_creators c WHERE c.item_id = i.id AND c.user_id = :uid)"
        " OR EXISTS (SELECT 1 FROM collection_items ci WHERE ci.item_id = i.id AND"
        " (ci.collection_id IN (SELECT id FROM collections WHERE created_by_id = :uid)"
        " OR ci.collection_id IN"
        " (SELECT collection_id FROM collection_shares WHERE user_id = :uid))))"
    )


def signed_in_user(connection: sa.Connection) -> sa.Row[Any]:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        abort(401)
    try:
        claims = jwt.decode(
            token.strip(),
            secret,
            algorithms=["HS256"],
            audience=AUDIENCE,
            issuer=issuer,
            leeway=5,
            options={"require": REQUIRED_CLAIMS, "strict_aud": True},
        )
    except jwt.InvalidTokenError:
        abort(401)
    user = connection.execute(
        sa.text("SELECT id, role, status FROM users WHERE id = :id"), {"id": int(claims["sub"])}
    ).first()
    if user is None or user.status == "deactivated":
        abort(401)
    return user


def timestamp(value: Any) -> str | None:
    """Stored UTC (SQLite: text, MariaDB: datetime) as ISO 8601 with the zone."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return str(value.replace(tzinfo=dt.UTC).isoformat())


def day(value: Any) -> str | None:
    return None if value is None else str(value)[:10]


def summary(row: sa.Row[Any]) -> dict[str, Any]:
    return {
        "refcode": row.refcode,
        "item_id": row.item_id,
        "type": row.type,
        "name": row.name,
        "status": row.status,
        "date": day(row.date),
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
        "version": row.version,
    }


@app.get("/items/<refcode>")
def one_item(refcode: str) -> Any:
    with engine.connect() as connection:
        user = signed_in_user(connection)
        condition = readable(user)
        ids = {"uid": user.id}
        item = connection.execute(
            sa.text(
                f"SELECT i.* FROM items i WHERE i.refcode = :refcode"
                f" AND i.deleted_at IS NULL AND {condition}"
            ),
            {**ids, "refcode": refcode},
        ).first()
        if item is None:
            abort(404)
        creators = connection.execute(
            sa.text(
                "SELECT u.id, u.display_name FROM users u JOIN item_creators c"
                " ON c.user_id = u.id WHERE c.item_id = :id ORDER BY u.id"
            ),
            {"id": item.id},
        ).all()
        collections = connection.scalars(
            sa.text(
                "SELECT c.collection_id FROM collections c JOIN collection_items ci"
                " ON ci.collection_id = c.id WHERE ci.item_id = :id ORDER BY c.collection_id"
            ),
            {"id": item.id},
        ).all()
        relationships = connection.execute(
            sa.text(
                "SELECT i.refcode, i.item_id, r.relation, r.description, r.origin"
                " FROM item_relationships r JOIN items i ON i.id = r.target_id"
                f" WHERE r.item_id = :id AND i.deleted_at IS NULL AND {condition}"
                " ORDER BY r.id"
            ),
            {**ids, "id": item.id},
        ).all()
    fields = item.fields if isinstance(item.fields, dict) else json.loads(item.fields)
    body = {
        **summary(item),
        "description": item.description,
        **fields,
        "creators": [{"id": c.id, "display_name": c.display_name} for c in creators],
        "collections": list(collections),
        "relationships": [
            {
                "refcode": r.refcode,
                "item_id": r.item_id,
                "relation": r.relation,
                "description": r.description,
                "derived": r.origin != "manual",
            }
            for r in relationships
        ],
        "deleted_at": timestamp(item.deleted_at),
    }
    return body, 200, {"ETag": f'"{item.refcode}@{item.version}"'}


COUNT_LIMIT = SEARCH_WINDOW = 1000  # labvault's paging.COUNT_LIMIT and SEARCH_WINDOW


def search(terms: list[str]) -> tuple[str, str, str, str, dict[str, str]]:
    """labvault's full-text search (labvault/search/) for words InnoDB indexes.

    Returns the join, the condition, the relevance, the newest-first order and the
    parameters.
    """
    if engine.dialect.name == "sqlite":  # FTS5, ranked by bm25 (title weighs 10)
        match = " ".join(f'"{term}"*' for term in terms)
        return (
            " JOIN items_fts ON items_fts.rowid = i.id",
            "items_fts MATCH :match AND items_fts.rank MATCH 'bm25(10.0, 1.0)'",
            "-items_fts.rank",
            "items_fts.rowid DESC",
            {"match": match},
        )
    if engine.dialect.name == "postgresql":  # the GIN-indexed search_vector, ts_rank
        query = "to_tsquery('simple'::regconfig, :tsquery)"
        weights = "'{0, 0, 0.1, 1}'::float4[]"  # D C B A: title (A) weighs 10
        return (
            "",
            f"i.search_vector @@ {query}",
            f"ts_rank({weights}, i.search_vector, {query})",
            "i.id DESC",
            {"tsquery": " & ".join(f"{term}:*" for term in terms)},
        )
    against = " ".join(f"+{term}*" for term in terms)
    if MROONGA:  # labvault's copy of the texts in a Mroonga table (search/mroonga_copy.py)
        both = "MATCH (s.title, s.body, s.access) AGAINST (:against IN BOOLEAN MODE)"
        title = "MATCH (s.title) AGAINST (:against IN BOOLEAN MODE)"
        join = " JOIN items_search s ON s.item_id = i.id"
        return join, both, f"{title} * 10.0 + {both}", "i.id DESC", {"against": against}
    both = "MATCH (i.search_title, i.search_body) AGAINST (:against IN BOOLEAN MODE)"
    title = "MATCH (i.search_title) AGAINST (:against IN BOOLEAN MODE)"
    return "", both, f"0 + {title} * 10.0 + {both}", "i.id DESC", {"against": against}


@app.get("/items")
def item_list() -> Any:
    """Newest first, or the newest SEARCH_WINDOW matches best first; counted up to a limit."""
    page = int(request.args.get("page", 1))
    page_size = int(request.args.get("page_size", 10))
    offset = (page - 1) * page_size
    with engine.connect() as connection:
        user = signed_in_user(connection)
        where = f"i.deleted_at IS NULL AND {readable(user)}"
        params: dict[str, Any] = {"uid": user.id}
        if "type" in request.args:
            where += " AND i.type = :type"
            params["type"] = request.args["type"]
        for number, (argument, value) in enumerate(request.args.items()):
            found = FIELD_FILTER.match(argument)
            if found is not None:
                operator = OPERATORS[found.group(2)]
                where += (
                    " AND i.id IN (SELECT item_id FROM item_field_values"
                    f" WHERE name = :name{number} AND number_value {operator} :value{number})"
                )
                params.update({f"name{number}": found.group(1), f"value{number}": float(value)})
        if "q" in request.args:
            terms = list(dict.fromkeys(WORD.findall(request.args["q"].lower())))
            join, matched, relevance, newest, search_params = search(terms)
            params.update(search_params)
            matches = (
                f"SELECT i.id, {relevance} AS relevance FROM items i{join}"
                f" WHERE {where} AND {matched} ORDER BY {newest} LIMIT {SEARCH_WINDOW}"
            )
            source = f"items i JOIN ({matches}) m ON m.id = i.id"
            order, counted, limit = (
                "m.relevance DESC, i.id DESC",
                matches,
                SEARCH_WINDOW,
            )
        else:
            source, order = f"items i WHERE {where}", "i.updated_at DESC, i.id DESC"
            limit = offset + max(COUNT_LIMIT, page_size + 1)
            counted = f"SELECT 1 FROM items i WHERE {where} LIMIT {limit}"
        rows = connection.execute(
            sa.text(
                f"SELECT {SUMMARY_COLUMNS} FROM {source} ORDER BY {order}"
                " LIMIT :limit OFFSET :offset"
            ),
            {**params, "limit": page_size, "offset": offset},
        ).all()
        if 0 < len(rows) < page_size or (not rows and offset == 0):
            total = offset + len(rows)  # the last page (labvault does the same)
        else:
            count = f"SELECT count(*) FROM ({counted}) c"
            total = int(connection.scalar(sa.text(count), params) or 0)
    header: dict[str, Any] = {"total": total, "first_page": 1, "page": page}
    if total < limit:
        pages = max(1, -(-total // page_size))
        header.update(total_pages=pages, last_page=pages)
    header["total_exact"] = total < limit
    return [summary(row) for row in rows], 200, {"X-Pagination": json.dumps(header)}
