"""Items, their creators and relationships, and the versions that keep every change."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from labvault.auth.models import User
from labvault.db import MYSQL_TABLE_OPTIONS, Base, utcnow


class ItemType(enum.StrEnum):
    SAMPLE = "sample"
    STARTING_MATERIAL = "starting_material"
    CELL = "cell"
    EQUIPMENT = "equipment"


#: Items every active user may read and write: shared lab resources.
LAB_WIDE_TYPES = (ItemType.STARTING_MATERIAL, ItemType.EQUIPMENT)


class Relation(enum.StrEnum):
    PARENT = "parent"
    CHILD = "child"
    IS_PART_OF = "is_part_of"
    OTHER = "other"


item_creators = sa.Table(
    "item_creators",
    Base.metadata,
    sa.Column("item_id", sa.ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
    sa.Column(
        "user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    ),
    **MYSQL_TABLE_OPTIONS,
)


class Item(Base):
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Immutable ``PREFIX:XXXXXX``.
    refcode: Mapped[str] = mapped_column(sa.String(17), unique=True)
    #: Human-readable, editable; unique among the items one user may know of when it is
    #: set (``items.service``), not in the whole database: that would tell who chose one
    #: that another's hidden item has.
    item_id: Mapped[str] = mapped_column(sa.String(40), index=True)
    type: Mapped[str] = mapped_column(sa.String(20), index=True)
    name: Mapped[str] = mapped_column(sa.String(500), default="")
    description: Mapped[str] = mapped_column(sa.Text, default="")
    date: Mapped[dt.date | None]
    status: Mapped[str] = mapped_column(sa.String(40), index=True)
    #: The fields of the item's type (validated by its schema).
    fields: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    #: Copies of two starting-material fields, indexed: looking an item up by its
    #: container's barcode or its CAS number is an index lookup on every database.
    barcode: Mapped[str | None] = mapped_column(sa.String(100), index=True)
    cas: Mapped[str | None] = mapped_column(sa.String(20), index=True)
    #: What full-text search looks at, kept in step with the item by the service.
    search_title: Mapped[str] = mapped_column(sa.String(700), default="")
    search_body: Mapped[str] = mapped_column(sa.Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    #: Counts every change (item, its blocks and files); the ETag and version number.
    version: Mapped[int] = mapped_column(default=1)
    #: Set while the item is in the trash.
    deleted_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    deleted_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )

    creators: Mapped[list[User]] = relationship(
        secondary=item_creators, lazy="selectin", order_by=User.id
    )
    relationships: Mapped[list[ItemRelationship]] = relationship(
        foreign_keys="ItemRelationship.item_id",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="ItemRelationship.id",
    )


class ItemRelationship(Base):
    """``item`` relates to ``target``: e.g. relation ``parent`` means target is its parent."""

    __tablename__ = "item_relationships"
    __table_args__ = (
        sa.UniqueConstraint("item_id", "target_id", "relation", "origin"),
        MYSQL_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("items.id", ondelete="CASCADE"))
    target_id: Mapped[int] = mapped_column(
        sa.ForeignKey("items.id", ondelete="CASCADE"), index=True
    )
    relation: Mapped[str] = mapped_column(sa.String(20))
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    #: "manual" when set directly; "synthesis" or "cell" when derived from the fields.
    origin: Mapped[str] = mapped_column(sa.String(20), default="manual")

    target: Mapped[Item] = relationship(foreign_keys=[target_id], lazy="joined")


class ItemVersion(Base):
    """A full snapshot of an item (with blocks and files) after one change."""

    __tablename__ = "item_versions"
    __table_args__ = (sa.UniqueConstraint("item_id", "number"), MYSQL_TABLE_OPTIONS)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("items.id", ondelete="CASCADE"))
    number: Mapped[int]
    #: create, update, delete, restore, block_create, block_update, block_delete,
    #: block_order, file_add, file_remove
    action: Mapped[str] = mapped_column(sa.String(30))
    snapshot: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    user: Mapped[User | None] = relationship(lazy="joined")


# --- full-text search indexes ------------------------------------------------------------
#
# Each database searches ``search_title`` and ``search_body`` with its own index. None of
# them fits the portable metadata (an FTS5 virtual table with triggers, FULLTEXT indexes,
# a generated tsvector column with a GIN index), so they are created by DDL after the
# items table (for ``metadata.create_all``) and by migration 0003; Alembic's comparison
# skips them by name (``is_search_object``).

#: SQLite: FTS5 over the items table (external content), kept in step by triggers.
#: unicode61 splits on everything but letters and digits and folds case and diacritics.
#: The prefix indexes let a word typed whole or in part, up to ten letters, be read as one
#: list newest first, instead of merging the lists of every word it starts (5 ms for
#: "anneal" at 100,000 items); they double the index (from 46 to 101 MB at 100,000 items).
SQLITE_SEARCH_DDL = (
    """CREATE VIRTUAL TABLE items_fts USING fts5(
    search_title, search_body, content='items', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2', prefix='2 3 4 5 6 7 8 9 10'
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
)
SQLITE_SEARCH_DROP = ("DROP TABLE IF EXISTS items_fts",)

#: MariaDB/MySQL: InnoDB FULLTEXT over both columns (what matches) and the title alone
#: (to rank title matches first).
MYSQL_SEARCH_DDL = (
    "CREATE FULLTEXT INDEX ft_items_search ON items (search_title, search_body)",
    "CREATE FULLTEXT INDEX ft_items_search_title ON items (search_title)",
)

#: ASCII punctuation but "%" (which the parser splits on anyway, and drivers would escape)
_PUNCTUATION = "!\"#$&'()*+,-./:;<=>?@[\\]^`{|}~"


def _pg_words(column: str) -> str:
    # PostgreSQL's parser keeps "-17", "1.5", "a@b.org" or "b3/2" as single tokens; make
    # ASCII punctuation separate words, as SQLite and MariaDB do, so "17" finds "64-17-5".
    quoted = _PUNCTUATION.replace("'", "''")
    return f"translate({column}, '{quoted}', '{' ' * len(_PUNCTUATION)}')"


#: PostgreSQL: the document searched, title words weighted A and body words B. It is
#: stored (a generated column), not only indexed: ranking reads it for every match, and
#: computing it again for each would take ~0.1 ms a row.
PG_SEARCH_VECTOR = (
    f"setweight(to_tsvector('simple'::regconfig, {_pg_words('search_title')}), 'A') || "
    f"setweight(to_tsvector('simple'::regconfig, {_pg_words('search_body')}), 'B')"
)
PG_SEARCH_DDL = (
    f"ALTER TABLE items ADD COLUMN search_vector tsvector "
    f"GENERATED ALWAYS AS ({PG_SEARCH_VECTOR}) STORED",
    "CREATE INDEX ft_items_search ON items USING gin (search_vector)",
)

#: What the DDL above adds: SQLite's FTS5 table and its shadow tables (the triggers are
#: not compared), MariaDB's and PostgreSQL's indexes and PostgreSQL's column.
SEARCH_OBJECT_NAMES = frozenset(
    {
        "items_fts",
        "items_fts_config",
        "items_fts_data",
        "items_fts_docsize",
        "items_fts_idx",
        "ft_items_search",
        "ft_items_search_title",
        "search_vector",
        # MariaDB with Mroonga: its copy of the texts and the notes of what to copy
        # (labvault.items.fulltext, made by `labvault db upgrade`, not by a migration)
        "items_search",
        "items_search_pending",
    }
)


def is_search_object(name: str | None) -> bool:
    """Whether a table, column or index belongs to full-text search (made outside metadata)."""
    return name in SEARCH_OBJECT_NAMES


for _dialect, _statements, _event in (
    ("sqlite", SQLITE_SEARCH_DDL, "after_create"),
    ("sqlite", SQLITE_SEARCH_DROP, "before_drop"),
    ("mysql", MYSQL_SEARCH_DDL, "after_create"),
    ("mariadb", MYSQL_SEARCH_DDL, "after_create"),
    ("postgresql", PG_SEARCH_DDL, "after_create"),
):
    for _statement in _statements:
        sa.event.listen(Item.__table__, _event, sa.DDL(_statement).execute_if(dialect=_dialect))
