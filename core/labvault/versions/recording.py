"""The recorder that turns the changes noted in a transaction into versions when it
commits (:mod:`labvault.items.history` notes them, :mod:`labvault.versions.service`
writes the versions).

Every process attaches it to its session factory, including a CLI command that never
changes an item; so this module imports no model: the service is imported by the first
commit that has changes to record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import event

from labvault.items.history import RECORDED, has_changes, take_changes

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, SessionTransaction, sessionmaker


def keep_versions(factory: sessionmaker[Session]) -> None:
    """Record the changes noted in the sessions ``factory`` makes when they commit."""
    factory.configure(info={RECORDED: True})
    event.listen(factory, "before_commit", _record_changes)
    event.listen(factory, "after_transaction_end", _forget_changes)


def _record_changes(session: Session) -> None:
    if has_changes(session):
        from labvault.versions.service import record_noted_changes

        record_noted_changes(session)


def _forget_changes(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # a rollback: what was noted did not happen
        take_changes(session)
