"""What an attacker prepares for someone else's sign-in does not work.

A line break in ``next`` would end up in the callback's ``Location`` header: it is
refused when the sign-in starts, and a flow that holds one (kept before the check, or
whose origin is no longer allowed) gets a clear 422 at the callback, never a 500.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from labvault.auth.models import SignInTicket, User
from labvault.db import begin_write, get_session

from tests.records import assert_error
from tests.test_signin import CAMPUS, ORIGIN, finish, start

SERVER = "http://localhost"


@pytest.fixture
def labvault_database_url(tmp_path):
    return f"sqlite:///{tmp_path / 'labvault.db'}"  # nothing here differs between databases


@pytest.fixture
def app(dists, labvault_make_app):
    dists.add("campus", CAMPUS)
    return labvault_make_app(
        PLUGINS=["campus"],
        AUTH_PROVIDERS={"uni": {"type": "campus", "display_name": "University"}},
        ALLOWED_REDIRECT_ORIGINS=[ORIGIN],
        PUBLIC_URL=SERVER,
    )


def count(app: Any, model: Any) -> int:
    with app.app_context():
        return get_session().scalar(sa.select(sa.func.count()).select_from(model)) or 0


@pytest.mark.parametrize("line_break", ["\r\n", "\n", "\r"], ids=["crlf", "lf", "cr"])
def test_a_next_with_a_line_break_is_refused_at_login(app, line_break):
    next_url = f"{ORIGIN}/after{line_break}Set-Cookie: planted=1"

    refused = app.test_client().get("/auth/uni/login", query_string={"next": next_url})

    body = assert_error(refused, 422, "next", location="query")
    assert "line break" in body["errors"]["query"]["next"][0]


def test_a_stored_next_with_a_line_break_is_a_clear_error_not_a_500(app):
    browser = app.test_client()
    state = start(browser, next=f"{ORIGIN}/after")
    with app.app_context():  # as a flow started before line breaks were refused holds it
        session = get_session()
        begin_write(session)
        ticket = session.scalars(sa.select(SignInTicket)).one()
        ticket.data = {**ticket.data, "next": f"{ORIGIN}/after\r\nSet-Cookie: planted=1"}
        session.commit()

    refused = finish(browser, state, "ada")

    assert_error(refused, 422, "next", location="query")
    assert count(app, User) == 0
