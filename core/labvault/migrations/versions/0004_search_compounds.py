"""hyphenated words in the search texts as one word; SQLite prefix indexes

Each hyphenated word of items.search_title and items.search_body ("64-17-5", "S-12") is
added to that text joined with "_" ("64_17_5"), as ``labvault.items.texts.compounds``
(then ``labvault.items.search``) does for every item written from now on: InnoDB indexes
no word under three letters, and that form lets MariaDB find CAS numbers and short item
ids through its FULLTEXT index. The rule is copied here so that this migration does not
change when the service does.

On SQLite the FTS5 table is made again with prefix indexes for prefixes of 2 to 10
letters (0003 had 2 and 3), so that a word's matches are read newest first from one list.

Downgrade leaves the texts as they are (0003's search reads the extra words as words) and
gives SQLite its FTS5 table of 0003 back.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

import re

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COMPOUND = re.compile(r"\w+(?:-\w+)+")
TITLE_LENGTH = 700
BATCH = 1000

FTS_TABLE = """CREATE VIRTUAL TABLE items_fts USING fts5(
    search_title, search_body, content='items', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2', prefix='{prefixes}'
)"""
PREFIXES, PREFIXES_0003 = "2 3 4 5 6 7 8 9 10", "2 3"

items = sa.table(
    "items",
    sa.column("id", sa.Integer),
    sa.column("search_title", sa.String),
    sa.column("search_body", sa.Text),
)


def _with_compounds(text: str, limit: int | None = None) -> str:
    joined = " ".join(found.replace("-", "_") for found in COMPOUND.findall(text))
    extended = f"{text} {joined}".strip()
    return extended[:limit] if limit else extended


def upgrade() -> None:
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(
            sa.select(items.c.id, items.c.search_title, items.c.search_body)
            .where(items.c.id > last)
            .order_by(items.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        changed = []
        for row in rows:
            title = _with_compounds(row.search_title or "", TITLE_LENGTH)
            body = _with_compounds(row.search_body or "")
            if (title, body) != (row.search_title, row.search_body):
                changed.append({"row_id": row.id, "title": title, "body": body})
        if changed:
            bind.execute(
                items.update()
                .where(items.c.id == sa.bindparam("row_id"))
                .values(search_title=sa.bindparam("title"), search_body=sa.bindparam("body")),
                changed,
            )
        last = rows[-1].id
    if bind.dialect.name == "sqlite":
        _make_fts_table(PREFIXES)


def _make_fts_table(prefixes: str) -> None:
    # the items_fts_* triggers on items name the table; they work on the new one
    op.execute("DROP TABLE items_fts")
    op.execute(FTS_TABLE.format(prefixes=prefixes))
    op.execute("INSERT INTO items_fts (items_fts) VALUES ('rebuild')")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _make_fts_table(PREFIXES_0003)
