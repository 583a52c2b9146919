"""Email addresses are stored and compared in one normal form (NFKC, then case-folded),
and identities by their exact subject, on every database.

MariaDB's usual collations (utf8mb4_unicode_ci, utf8mb4_general_ci) compare case and
accents away: "käte@example.org" equals "kate@example.org" there, and a sign-in with the
one address would reach the account of the other. Each test runs on SQLite, MariaDB and
PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from labvault.auth.models import LinkedIdentity, User
from labvault.emails import InvalidEmail
from labvault.users.service import UserError, create_user, find_user
from labvault.web.session import get_session

from tests.test_signin import CAMPUS, ORIGIN, me, sign_in

KATE = "kate@example.org"


@pytest.fixture
def app(dists, labvault_make_app):
    """A site with the campus provider (tests/test_signin.py), on this test's database."""
    dists.add("campus", CAMPUS)
    return labvault_make_app(
        PLUGINS=["campus"],
        AUTH_PROVIDERS={"uni": {"type": "campus"}},
        ALLOWED_REDIRECT_ORIGINS=[ORIGIN],
    )


def stored_emails(app: Any) -> dict[str, list[str | None]]:
    with app.app_context():
        session = get_session()
        users = session.scalars(sa.select(User.email).order_by(User.id))
        identities = session.scalars(sa.select(LinkedIdentity.email).order_by(LinkedIdentity.id))
        return {"users": list(users), "identities": list(identities)}


@pytest.mark.parametrize(
    ("verified", "joins"),
    [
        ("KATE@EXAMPLE.ORG", True),
        ("\uff2b\uff21\uff34\uff25@\uff25xample.org", True),  # fullwidth: NFKC makes it ASCII
        ("\u212aate@example.org", True),  # KELVIN SIGN: NFKC makes it "K"
        ("käte@example.org", False),  # another address, whatever MariaDB's collation says
        ("kāte@example.org", False),
        ("kate@exámple.org", False),
    ],
)
def test_a_verified_address_joins_only_the_account_of_the_same_address(
    app, labvault_make_user, verified, joins
):
    kate = labvault_make_user(app, email=KATE)
    client = app.test_client()

    account = me(client, sign_in(client, f"someone:{verified}"))

    assert (account["id"] == kate.id) is joins
    expected = KATE if joins else verified.casefold()
    assert account["email"] == expected
    assert stored_emails(app)["identities"] == [expected]


@pytest.mark.parametrize("other", ["KATE", "käte", "kate "])
def test_an_identity_is_found_by_its_exact_subject(app, other):
    """Subjects are the provider's ids (OpenID Connect's are case-sensitive) or, for an
    email link, the normalized address: "käte" is never "kate"."""
    client = app.test_client()
    kate = me(client, sign_in(client, "kate"))

    someone = me(client, sign_in(client, other))

    assert someone["id"] != kate["id"]
    assert me(client, sign_in(client, "kate"))["id"] == kate["id"]


def test_accounts_are_made_and_found_by_the_normal_form_of_their_address(app):
    with app.app_context():
        session = get_session()
        kate = create_user(session, "\uff2bate@Example.ORG")
        assert kate.email == KATE
        for same in (KATE, "KATE@example.org", "\u212aate@example.org", " kate@example.org "):
            with pytest.raises(UserError, match="already exists"):
                create_user(session, same)
            assert find_user(session, same).id == kate.id

        # another address, though MariaDB's collation compares it equal
        with pytest.raises(UserError, match=r"no user with email 'käte@example\.org'"):
            find_user(session, "käte@example.org")
        käte = create_user(session, "Käte@example.org")
        assert (käte.email, find_user(session, "KÄTE@example.org").id) == (
            "käte@example.org",
            käte.id,
        )
        strasse = create_user(session, "Straße@example.org")
        assert strasse.email == "strasse@example.org"

        for invalid in ("kate", "kate@", "@example.org", "a\u0000@example.org", ""):
            with pytest.raises(InvalidEmail, match="not a valid email address"):
                create_user(session, invalid)
    assert stored_emails(app)["users"] == [KATE, "käte@example.org", "strasse@example.org"]
