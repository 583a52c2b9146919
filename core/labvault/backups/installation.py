"""Whose repository is it: the installation id, and taking over another's repository.

Every labvault database has an installation id (a uuid, :class:`Installation`), shared
by every server on that database; each snapshot's manifest records it. A snapshot leaves
it out and a restore keeps the restored database's own, so a server restored from
another's backup, whose config names the same strategies and so the same repositories,
has an id of its own. Before a strategy writes a snapshot, the repository's newest
snapshot must be this installation's; if another's, the run is refused (:class:`Conflict`)
until `labvault backup adopt` records that this installation takes the repository over
(the newest snapshot then, in :attr:`BackupState.adopted_snapshot`): the next snapshot is
this installation's own, and from then on the other installation is refused in turn.

A snapshot without an id was written before labvault recorded one; it is taken as this
installation's, so upgrading labvault does not stop anyone's backups.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labvault.audit.service import Actor, record
from labvault.backups.models import BackupState, Installation
from labvault.backups.repository import CONFIG_KEY, Repository
from labvault.db import WRITE_OPTION, begin_write, insert_missing, utcnow
from labvault.errors import Conflict

#: The manifest's key of the id of the installation that wrote the snapshot.
MANIFEST_KEY = "installation"


def installation_id(session: Session) -> str:
    """This installation's id; made now if the database has none (a schema made without
    the migrations, or its row removed), once even if several processes ask at once."""
    found = session.scalar(sa.select(Installation.installation_id))
    if found is None:
        begin_write(session)
        made = {"singleton": 1, "installation_id": str(uuid.uuid4()), "created_at": utcnow()}
        insert_missing(session, Installation, made)
        session.commit()
        found = session.scalar(sa.select(Installation.installation_id))
    assert found is not None
    return found


def keep_installation_id(engine: sa.Engine, kept: str | None) -> None:
    """Give the database the id ``kept`` again, if it has another now (a restore that
    dropped its tables made them again with a new one)."""
    if kept is None or known_installation_id(engine) == kept:
        return
    writer = engine.connect().execution_options(**{WRITE_OPTION: True})
    with writer as connection, connection.begin():
        connection.execute(sa.delete(Installation))
        values = {"singleton": 1, "installation_id": kept, "created_at": utcnow()}
        connection.execute(sa.insert(Installation).values(values))


def known_installation_id(engine: sa.Engine) -> str | None:
    """The id a database holds, if it has one (nothing is made)."""
    try:
        with engine.connect() as connection:
            return connection.scalar(sa.select(Installation.installation_id))
    except sa.exc.DBAPIError:  # no such table (yet)
        return None


def adopted_snapshot(session: Session, strategy: str) -> str | None:
    return session.scalar(
        sa.select(BackupState.adopted_snapshot).where(BackupState.strategy == strategy)
    )


@dataclass(frozen=True)
class Newest:
    """A repository's newest snapshot and the installation that wrote it (None: a
    snapshot older than installation ids)."""

    snapshot: str
    installation: str | None


def newest_snapshot(repository: Repository) -> Newest | None:
    """The newest snapshot of ``repository``, None if it has none (or is not made yet)."""
    if not repository.target.exists(CONFIG_KEY):
        return None
    repository.open(create=False)
    snapshots = repository.snapshots()
    if not snapshots:
        return None
    snapshot = max(snapshots)  # ids sort by time
    written_by = repository.manifest(snapshot).get(MANIFEST_KEY)
    return Newest(snapshot, written_by if isinstance(written_by, str) else None)


def check_owner(strategy: str, repository: Repository, own: str, adopted: str | None) -> None:
    """Conflict if the repository's newest snapshot is another installation's, unless it
    is the one this installation adopted."""
    newest = newest_snapshot(repository)
    if newest is None or newest.installation in (None, own) or newest.snapshot == adopted:
        return
    raise Conflict(
        f"backup strategy {strategy}: the newest snapshot in its repository "
        f"({newest.snapshot}) was written by installation {newest.installation}, not by "
        f"this one ({own}): is this server a copy restored from another's backup? It would "
        f"write into that server's repository. Give the strategy a place of its own "
        f"(BACKUP_STRATEGIES.{strategy}.target), or, if this server takes the repository "
        f"over, run `labvault backup adopt {strategy}`"
    )


def adopt(
    session: Session, strategy: str, repository: Repository, *, actor: Actor | str
) -> Newest | None:
    """Record that this installation takes ``strategy``'s repository over (with an audit
    event of ``actor``); the newest snapshot of another installation it takes over, None
    when there is nothing to take (no snapshot, or the newest is this installation's)."""
    own = installation_id(session)
    newest = newest_snapshot(repository)
    if newest is None or newest.installation in (None, own):
        return None
    begin_write(session)
    insert_missing(session, BackupState, {"strategy": strategy})
    session.execute(
        sa.update(BackupState)
        .where(BackupState.strategy == strategy)
        .values(adopted_snapshot=newest.snapshot)
    )
    details = {"snapshot": newest.snapshot, "installation": newest.installation}
    record(session, "backup.adopted", f"backup {strategy}", actor=actor, details=details)
    session.commit()
    return newest
