"""Sign-in storage on every database: a ticket is spent once and a rate limit holds,
however many connections (workers) try at once."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
from labvault.auth import limits, tickets


@pytest.fixture
def database(shared_app):
    return shared_app.extensions["labvault"].database


def race(database: Any, work: Any, count: int = 8) -> list[Any]:
    """Run ``work(session)`` in ``count`` threads at once, each with its own connection;
    the answers in order (the first error, should one fail, is raised)."""
    barrier = threading.Barrier(count)

    def run(_: int) -> Any:
        session = database.sessionmaker()
        try:
            barrier.wait()
            return work(session)
        finally:
            session.close()

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


@pytest.mark.parametrize(
    "labvault_database_url", ["sqlite", "mariadb", "postgresql"], indirect=True
)
def test_a_ticket_is_spent_once_however_many_try_at_once(database):
    session = database.sessionmaker()
    secret = tickets.issue_ticket(session, "login", {"n": 1}, dt.timedelta(minutes=10))
    session.close()

    spent = race(database, lambda s: tickets.spend_ticket(s, "login", secret))

    assert sorted(spent, key=lambda data: data is None) == [{"n": 1}] + [None] * 7


@pytest.mark.parametrize(
    "labvault_database_url", ["sqlite", "mariadb", "postgresql"], indirect=True
)
def test_a_rate_limit_holds_across_connections(database):
    hour = dt.timedelta(hours=1)

    started = time.monotonic()
    waits = race(database, lambda s: limits.take(s, "ip:10.0.0.1", 5, hour), count=8)
    took = time.monotonic() - started  # a wait is counted from its own attempt

    assert sorted(waits)[:5] == [0.0] * 5
    # one attempt per 12 min, less what passed between the first attempt and the others
    assert all(720 - took <= wait <= 721 for wait in sorted(waits)[5:]), (waits, took)
    session = database.sessionmaker()
    assert limits.take(session, "ip:10.0.0.2", 5, hour) == 0.0  # another key: its own bucket
    session.close()


def test_a_rate_limit_refills_over_its_period(labvault_make_app, monkeypatch):
    database = labvault_make_app().extensions["labvault"].database
    clock = [1_000_000.0]
    monkeypatch.setattr(limits.time, "time", lambda: clock[0])
    session = database.sessionmaker()
    minute = dt.timedelta(minutes=1)

    assert [limits.take(session, "k", 2, minute) for _ in range(3)] == [0.0, 0.0, 30.0]
    clock[0] += 30
    assert [limits.take(session, "k", 2, minute) for _ in range(2)] == [0.0, 30.0]
    clock[0] += 3600  # long full again: the bucket is deleted by the next use of any key
    assert limits.take(session, "other", 2, minute) == 0.0
    rows = session.execute(sa.text("SELECT COUNT(*) FROM rate_limits")).scalar()
    session.close()
    assert rows == 1


@pytest.mark.parametrize(
    "labvault_database_url", ["sqlite", "mariadb", "postgresql"], indirect=True
)
def test_first_sign_ins_at_once_make_one_account_and_one_identity(shared_app, database):
    from labvault.auth.models import LinkedIdentity, User
    from labvault.plugin import AuthProvider, Identity
    from labvault.signin.service import sign_in

    signer = shared_app.extensions["labvault"].signer
    provider = AuthProvider("campus", {}, None)  # type: ignore[arg-type]
    identity = Identity("campus", "ada-1", "ada@lab.example", email_verified=True)

    signed_in = race(database, lambda s: sign_in(s, signer, provider, identity), count=6)

    user_ids = {signer.verify(tokens.access_token)["sub"] for tokens in signed_in}
    session = database.sessionmaker()
    users = session.scalars(sa.select(User.id)).all()
    identities = session.scalars(sa.select(LinkedIdentity.user_id)).all()
    session.close()
    assert len(user_ids) == 1 and [str(i) for i in users] == list(user_ids)
    assert [str(i) for i in identities] == list(user_ids)


def test_a_sign_in_that_keeps_breaking_a_constraint_stops(shared_app, database, monkeypatch):
    """A unique constraint that fails again and again (not a race: a bug, here a lookup
    that misses the account an email belongs to) is tried SIGN_IN_ATTEMPTS times, then
    answered as the server's fault, with nothing written; it used to recurse forever."""
    from labvault.auth.models import LinkedIdentity, User
    from labvault.errors import ServerFault
    from labvault.plugin import AuthProvider, Identity
    from labvault.signin import service

    signer = shared_app.extensions["labvault"].signer
    provider = AuthProvider("campus", {}, None)  # type: ignore[arg-type]
    session = database.sessionmaker()
    service.sign_in(session, signer, provider, Identity("campus", "ada-1", "ada@lab.example", True))
    decide, decided = service._decide, []

    def missing_the_account(*args: Any, **kwargs: Any) -> Any:
        decided.append(args[2].subject)
        return dataclasses.replace(decide(*args, **kwargs), user=None)

    monkeypatch.setattr(service, "_decide", missing_the_account)
    twin = Identity("campus", "ada-2", "ada@lab.example", email_verified=True)
    with pytest.raises(ServerFault, match="unique constraint 3 times in a row"):
        service.sign_in(session, signer, provider, twin)

    assert decided == ["ada-2"] * service.SIGN_IN_ATTEMPTS == ["ada-2"] * 3
    assert session.scalar(sa.select(sa.func.count()).select_from(User)) == 1
    assert session.scalars(sa.select(LinkedIdentity.subject)).all() == ["ada-1"]
    session.close()
