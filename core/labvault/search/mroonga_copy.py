"""Mroonga's copy of the items' texts, kept true to the items (MariaDB with Mroonga).

Mroonga (Groonga for MariaDB) finds a word in 100,000 items in milliseconds where
InnoDB FULLTEXT reads every document holding it, but its tables are not
transactional. So the items' search texts stay in ``items`` (InnoDB), and Mroonga's
table ``items_search`` is a copy written only after a change is committed:

- triggers on ``items``, ``item_creators`` and ``collection_items`` note every item
  inserted, changed, deleted or read by others in ``items_search_pending`` (InnoDB), in
  the writing transaction (:data:`labvault.search.ddl.MROONGA_DDL`): a rollback takes
  the note back with the change, and a commit keeps both;
- after its commit, the writer copies the noted items' texts into ``items_search`` and
  removes the notes (:func:`index_pending`), holding the notes' row locks meanwhile, so
  two copies of one item never cross and a later change waits for the note;
- a search first indexes whatever is still noted (a writer killed between its commit
  and the copy leaves its notes), and joins its hits to ``items``: a copy of an item
  that no longer exists matches nothing.

So a search never finds an item by text it does not have, nor misses one that has it.
The copy also holds who reads each item (:mod:`labvault.search.access`); items in the
trash have no copy. ``labvault search reindex`` rebuilds the copy (:func:`reindex`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labvault.db import first_line
from labvault.items import types
from labvault.search import access
from labvault.search.ddl import PENDING_TABLE, SEARCH_TABLE
from labvault.search.engines import engine_in_use, is_mysql, mroonga_table
from labvault.search.freshness import DIRTY
from labvault.search.words import words_of

#: How many noted items one pass of index_pending copies.
BATCH = 500


def index_pending(engine: sa.Engine, limit: int | None = None) -> int:
    """Copy the texts of noted items into the search table; the count copied.

    Notes another connection is copying now are left to it (SKIP LOCKED); ``limit``
    bounds the passes of BATCH notes (None: until none is left). Nothing to do where
    Mroonga does not search."""
    if not is_mysql(engine) or engine_in_use(engine) != "mroonga":
        return 0
    copied = 0
    passes = 0
    while limit is None or passes < limit:
        passes += 1
        done = _index_batch(engine)
        copied += done
        if done < BATCH:
            return copied
    return copied


def _index_batch(engine: sa.Engine) -> int:
    # READ COMMITTED: the texts read are the newest committed, whatever this connection
    # read before; the notes stay locked until the copy is written and they are removed
    options = {"isolation_level": "READ COMMITTED"}
    with engine.connect().execution_options(**options) as connection, connection.begin():
        ids = list(
            connection.execute(
                sa.text(
                    f"SELECT item_id FROM {PENDING_TABLE} ORDER BY item_id "
                    f"LIMIT {BATCH} FOR UPDATE SKIP LOCKED"
                )
            ).scalars()
        )
        if not ids:
            return 0
        _copy(connection, ids)
        connection.execute(
            sa.text(f"DELETE FROM {PENDING_TABLE} WHERE item_id IN :ids").bindparams(
                sa.bindparam("ids", expanding=True)
            ),
            {"ids": ids},
        )
    return len(ids)


def _by_id(connection: sa.Connection, sql: str, ids: list[int]) -> dict[int, list[Any]]:
    found: dict[int, list[Any]] = {}
    rows = connection.execute(
        sa.text(sql).bindparams(sa.bindparam("ids", expanding=True)), {"ids": ids}
    )
    for item_id, value in rows:
        found.setdefault(item_id, []).append(value)
    return found


def _copy(connection: sa.Connection, ids: Sequence[int]) -> None:
    """Make the search table's rows of ``ids`` what ``items`` and the tables deciding
    who reads them hold now (items in the trash have no row)."""
    ids = list(ids)
    texts = connection.execute(
        sa.text(
            "SELECT id, search_title, search_body, type FROM items "
            "WHERE id IN :ids AND deleted_at IS NULL"
        ).bindparams(sa.bindparam("ids", expanding=True)),
        {"ids": ids},
    ).all()
    present = {row[0] for row in texts}
    gone = [item_id for item_id in ids if item_id not in present]
    if gone:
        connection.execute(
            sa.text(f"DELETE FROM {SEARCH_TABLE} WHERE item_id IN :ids").bindparams(
                sa.bindparam("ids", expanding=True)
            ),
            {"ids": gone},
        )
    if not texts:
        return
    live = sorted(present)
    creators = _by_id(
        connection, "SELECT item_id, user_id FROM item_creators WHERE item_id IN :ids", live
    )
    collections = _by_id(
        connection,
        "SELECT item_id, collection_id FROM collection_items WHERE item_id IN :ids",
        live,
    )
    lab_wide = set(types.current().lab_wide)
    connection.execute(
        sa.text(
            f"REPLACE INTO {SEARCH_TABLE} (item_id, title, body, access) "
            "VALUES (:id, :title, :body, :access)"
        ),
        [
            {
                "id": i,
                "title": words_of(title or ""),
                "body": words_of(body or ""),
                "access": access.access_words(
                    i,
                    lab_wide=item_type in lab_wide,
                    creators=creators.get(i, ()),
                    collections=collections.get(i, ()),
                ),
            }
            for i, title, body, item_type in texts
        ],
    )


def reindex(engine: sa.Engine, progress: Callable[[int, int], None] | None = None) -> int:
    """Copy every item's texts into the search table again (MariaDB with Mroonga), then
    remove copies of items that are gone; the items copied. Every item is noted and the
    notes are copied as a writer's are (under their locks), so a change committed
    meanwhile is never overwritten by an older text; searches keep working throughout."""
    if not mroonga_table(engine):
        return 0
    with engine.connect() as connection:
        total = connection.execute(sa.text("SELECT COUNT(*) FROM items")).scalar() or 0
    last, done = 0, 0
    while True:
        with engine.begin() as connection:
            ids = list(
                connection.execute(
                    sa.text(f"SELECT id FROM items WHERE id > :last ORDER BY id LIMIT {BATCH}"),
                    {"last": last},
                ).scalars()
            )
            if not ids:
                break
            connection.execute(
                sa.text(
                    f"INSERT INTO {PENDING_TABLE} (item_id) VALUES (:id) "
                    "ON DUPLICATE KEY UPDATE item_id = item_id"
                ),
                [{"id": item_id} for item_id in ids],
            )
        index_pending(engine)
        last, done = ids[-1], done + len(ids)
        if progress:
            progress(len(ids), total)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                f"DELETE s FROM {SEARCH_TABLE} s LEFT JOIN items i ON i.id = s.item_id "
                "WHERE i.id IS NULL"
            )
        )
    return done


# --- after a commit -----------------------------------------------------------------------

LOG = logging.getLogger("labvault.search")


def index_after_commit(session: Session) -> None:
    """Copy what the transaction ``session`` committed noted (see
    :mod:`~labvault.search.freshness`, which calls this)."""
    if not session.info.pop(DIRTY, False):
        return
    engine = session.get_bind()
    if not isinstance(engine, sa.Engine) or engine_in_use(engine) != "mroonga":
        return
    index_pending_or_leave(engine, limit=1, when="after a commit")


def index_pending_or_leave(engine: sa.Engine, *, limit: int | None, when: str) -> None:
    """:func:`index_pending`, but a copy that fails (a deadlock between two copies and a
    writer's note, a lock waited for too long) only leaves its notes, for the next one;
    the writer's commit or the search goes on."""
    try:
        index_pending(engine, limit=limit)
    except sa.exc.OperationalError as error:
        LOG.warning(
            "search texts not copied %s (left for the next copy): %s", when, first_line(error)
        )
