"""full-text search indexes on items

Each database gets its own index over items.search_title and items.search_body:
SQLite an FTS5 table kept in step by triggers, MariaDB/MySQL InnoDB FULLTEXT indexes,
PostgreSQL a generated tsvector column (title words weighted A, body words B) with a GIN
index. The statements are those of ``labvault.items.models`` at this revision (now
``labvault.search.ddl``), copied so that this migration does not change when the models
do (tests/test_migrations.py checks both still build the same objects).

SQLite: Alembic's batch mode rebuilds a table by copying it, which drops its triggers; a
later migration that batch-alters ``items`` must create the items_fts_* triggers again.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SQLITE_UPGRADE = (
    """CREATE VIRTUAL TABLE items_fts USING fts5(
    search_title, search_body, content='items', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2', prefix='2 3'
)""",
    """CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN
    INSERT INTO items_fts (rowid, search_title, search_body)
    VALUES (new.id, new.search_title, new.search_body);
END""",
    """CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN
    INSERT INTO items_fts (items_fts, rowid, search_title, search_body)
    VALUES ('delete', old.id, old.search_title, old.search_body);
END""",
    """CREATE TRIGGER items_fts_update AFTER UPDATE OF search_title, search_body ON items BEGIN
    INSERT INTO items_fts (items_fts, rowid, search_title, search_body)
    VALUES ('delete', old.id, old.search_title, old.search_body);
    INSERT INTO items_fts (rowid, search_title, search_body)
    VALUES (new.id, new.search_title, new.search_body);
END""",
    # index the items there already are
    "INSERT INTO items_fts (items_fts) VALUES ('rebuild')",
)
SQLITE_DOWNGRADE = (
    "DROP TRIGGER items_fts_update",
    "DROP TRIGGER items_fts_delete",
    "DROP TRIGGER items_fts_insert",
    "DROP TABLE items_fts",
)

MYSQL_UPGRADE = (
    # the first FULLTEXT index of a table rebuilds it (InnoDB adds FTS_DOC_ID)
    "CREATE FULLTEXT INDEX ft_items_search ON items (search_title, search_body)",
    "CREATE FULLTEXT INDEX ft_items_search_title ON items (search_title)",
)
MYSQL_DOWNGRADE = (
    # IF EXISTS: where Mroonga searches (labvault.search.mariadb), these were dropped
    "DROP INDEX IF EXISTS ft_items_search_title ON items",
    "DROP INDEX IF EXISTS ft_items_search ON items",
)


def _pg_words(column: str) -> str:
    # ASCII punctuation (but "%") to spaces, so "64-17-5" is three words as elsewhere
    return f"translate({column}, '!\"#$&''()*+,-./:;<=>?@[\\]^`{{|}}~', '{' ' * 30}')"


PG_UPGRADE = (
    "ALTER TABLE items ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ("
    f"setweight(to_tsvector('simple'::regconfig, {_pg_words('search_title')}), 'A') || "
    f"setweight(to_tsvector('simple'::regconfig, {_pg_words('search_body')}), 'B')"
    ") STORED",
    "CREATE INDEX ft_items_search ON items USING gin (search_vector)",
)
PG_DOWNGRADE = ("DROP INDEX ft_items_search", "ALTER TABLE items DROP COLUMN search_vector")

STATEMENTS = {
    "sqlite": (SQLITE_UPGRADE, SQLITE_DOWNGRADE),
    "mysql": (MYSQL_UPGRADE, MYSQL_DOWNGRADE),
    "mariadb": (MYSQL_UPGRADE, MYSQL_DOWNGRADE),
    "postgresql": (PG_UPGRADE, PG_DOWNGRADE),
}


def _run(statements: tuple[str, ...]) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    _run(STATEMENTS[op.get_bind().dialect.name][0])


def downgrade() -> None:
    _run(STATEMENTS[op.get_bind().dialect.name][1])
