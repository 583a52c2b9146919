"""The cached listing of a file source: built by walking the tree, kept in the database,
rebuilt by one worker at a time.

A listing older than REMOTE_CACHE_MAX_AGE is rebuilt when it is used; an explicit refresh
sooner than REMOTE_CACHE_MIN_AGE after the last build is answered from the cache. The
rebuild walks the source outside any transaction, then replaces the cached entries in
one: readers see the old listing until the new one is committed. The lock is a row's
token with an expiry, so a worker that dies mid-walk holds nobody up for long.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labvault.db import begin_write, insert_missing, utcnow
from labvault.errors import BadPath, DomainError, LabvaultError
from labvault.plugin import FileSource, RemoteEntry
from labvault.sources.models import SourceEntry, SourceState
from labvault.sources.paths import NotServed, check_reached, excluding_pattern

#: A rebuild's lock lapses after this long, should its worker die.
LOCK_LIFETIME = dt.timedelta(minutes=10)
#: How long a request without any listing yet waits for another worker's rebuild.
WAIT_FOR_FIRST_LISTING = 30.0
#: Rows written per INSERT while replacing a listing.
BATCH = 2000


class ListingTooLarge(DomainError):
    """The tree has more entries than the source's ``max_entries`` (413)."""

    status = 413


class ListingInProgress(DomainError):
    """Another worker is building the first listing of a source (503, Retry-After)."""

    status = 503


def folder_hash(path: str) -> str:
    return hashlib.sha256(path.encode()).hexdigest()


def walk(
    name: str, source: FileSource, progress: Callable[[int], None] | None = None
) -> list[RemoteEntry]:
    """Every entry of the source's tree within its limits, folder by folder.

    What ``excludes`` match is left out (and not entered), as are links that lead out
    of the root or to what the source does not serve; linked folders are listed but not
    entered (their targets are in the tree already, and a loop would never end).
    """
    options = source.options
    found: list[RemoteEntry] = []
    folders: deque[tuple[str, int]] = deque([("", 1)])
    while folders:
        folder, depth = folders.popleft()
        for entry in source.list(folder):
            if excluding_pattern(options, entry.path) is not None:
                continue
            try:
                check_reached(name, source, entry)
            except (BadPath, NotServed):
                continue
            found.append(entry)
            if len(found) > options["max_entries"]:
                raise ListingTooLarge(
                    f"the file source {name} has more than {options['max_entries']} entries; "
                    "raise its max_entries option or exclude folders (excludes)"
                )
            if entry.is_dir and entry.link_target is None and depth < options["max_depth"]:
                folders.append((entry.path, depth + 1))
        if progress is not None:
            progress(len(found))
    return found


def _rows(name: str, entries: list[RemoteEntry]) -> Iterator[dict[str, object]]:
    by_folder: dict[str, list[RemoteEntry]] = {}
    for entry in entries:
        by_folder.setdefault(entry.path.rpartition("/")[0], []).append(entry)
    for folder, children in by_folder.items():
        children.sort(key=lambda e: (not e.is_dir, e.name.casefold(), e.name))
        parent = folder_hash(folder)
        for position, entry in enumerate(children):
            yield {
                "source": name,
                "parent_hash": parent,
                "position": position,
                "path": entry.path,
                "is_dir": entry.is_dir,
                "size": entry.size,
                "modified": entry.modified,
            }


def state_of(session: Session, name: str) -> SourceState | None:
    return session.get(SourceState, name, populate_existing=True)


def _take_lock(session: Session, name: str) -> str | None:
    """The lock's token if this worker may rebuild the listing now, else None. Commits."""
    begin_write(session)
    insert_missing(session, SourceState, {"source": name, "entry_count": 0})
    token = secrets.token_hex(16)
    now = utcnow()
    taken = session.execute(
        sa.update(SourceState)
        .where(
            SourceState.source == name,
            sa.or_(SourceState.lock_expires_at.is_(None), SourceState.lock_expires_at < now),
        )
        .values(lock_token=token, lock_expires_at=now + LOCK_LIFETIME)
    )
    session.commit()
    return token if getattr(taken, "rowcount", 0) == 1 else None


def _finish(session: Session, name: str, token: str, **values: object) -> None:
    session.execute(
        sa.update(SourceState)
        .where(SourceState.source == name, SourceState.lock_token == token)
        .values(lock_token=None, lock_expires_at=None, **values)
    )
    session.commit()


def rebuild(
    session: Session,
    name: str,
    source: FileSource,
    progress: Callable[[int], None] | None = None,
) -> bool:
    """Rebuild the listing unless another worker is at it (then False, at once)."""
    token = _take_lock(session, name)
    if token is None:
        return False
    try:
        entries = walk(name, source, progress)
    except LabvaultError as error:
        begin_write(session)
        message = getattr(error, "message", str(error))[:1000]
        _finish(session, name, token, error=message, error_at=utcnow())
        raise
    except BaseException:
        begin_write(session)
        _finish(session, name, token)
        raise
    begin_write(session)
    session.execute(sa.delete(SourceEntry).where(SourceEntry.source == name))
    batch: list[dict[str, object]] = []
    for row in _rows(name, entries):
        batch.append(row)
        if len(batch) == BATCH:
            session.execute(sa.insert(SourceEntry), batch)
            batch = []
    if batch:
        session.execute(sa.insert(SourceEntry), batch)
    _finish(
        session, name, token, built_at=utcnow(), entry_count=len(entries), error=None, error_at=None
    )
    return True


@dataclass(frozen=True)
class Freshness:
    """What a request for entries got: the listing's age, and whether it was rebuilt."""

    built_at: dt.datetime
    refreshed: bool
    note: str | None = None


def fresh_listing(
    session: Session,
    name: str,
    source: FileSource,
    *,
    max_age: dt.timedelta,
    min_age: dt.timedelta,
    refresh: bool,
) -> Freshness:
    """Make sure a listing recent enough exists (rebuilding it here if need be)."""
    state = state_of(session, name)
    built = state.built_at if state is not None else None
    now = utcnow()
    if built is not None and refresh and now - built < min_age:
        age = int((now - built).total_seconds())
        note = (
            f"not refreshed: the listing is {age} s old and REMOTE_CACHE_MIN_AGE is "
            f"{min_age.total_seconds() / 60:g} min"
        )
        return Freshness(built, False, note)
    if built is not None and not refresh and now - built <= max_age:
        return Freshness(built, False)
    try:
        rebuilt = rebuild(session, name, source)
    except DomainError as error:
        if built is None:
            raise
        # the source is unreachable (or over its limits) now: the last listing it is
        return Freshness(built, False, f"not refreshed: {error.message}"[:500])
    if rebuilt:
        state = state_of(session, name)
        assert state is not None and state.built_at is not None
        return Freshness(state.built_at, True)
    if built is not None:  # another worker is rebuilding: serve the listing there is
        return Freshness(built, False, "a newer listing is being built; this one is older")
    deadline = time.monotonic() + WAIT_FOR_FIRST_LISTING
    while time.monotonic() < deadline:
        time.sleep(0.2)
        session.rollback()  # a new snapshot: see the other worker's commit
        state = state_of(session, name)
        if state is not None and state.built_at is not None:
            return Freshness(state.built_at, False)
    raise ListingInProgress(
        f"the listing of {name} is still being built; try again shortly",
        headers={"Retry-After": "5"},
    )


def folder_entries(
    session: Session, name: str, path: str, first: int, size: int
) -> tuple[list[SourceEntry], int]:
    """A page of the cached entries directly in folder ``path``, and their count."""
    where = (SourceEntry.source == name, SourceEntry.parent_hash == folder_hash(path))
    rows = list(
        session.scalars(
            sa.select(SourceEntry)
            .where(*where, SourceEntry.position >= first, SourceEntry.position < first + size)
            .order_by(SourceEntry.position)
        )
    )
    count = session.scalar(sa.select(sa.func.count()).select_from(SourceEntry).where(*where))
    return rows, int(count or 0)


def is_listed_folder(session: Session, name: str, path: str) -> bool:
    if path == "":
        return True
    parent = folder_hash(path.rpartition("/")[0])
    found = session.scalar(
        sa.select(SourceEntry.is_dir).where(
            SourceEntry.source == name, SourceEntry.parent_hash == parent, SourceEntry.path == path
        )
    )
    return bool(found)
