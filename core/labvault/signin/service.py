"""The registration rules and the account a sign-in reaches, for every provider alike.

A provider proves who someone is (an :class:`~labvault.plugin.Identity`); this module
decides which account that is, whether it may be registered, in which status, and starts
the session. The rules:

- a known identity (provider instance, subject) reaches its account;
- a sign-in started with ``link`` adds the identity to the signed-in account;
- otherwise an email both the identity and an account verified joins them;
- otherwise a new account is registered: refused when the allow list is ``[]``; active
  when a list admitted the identity, else unverified until an admin activates it;
- a non-empty allow list must admit the identity at every sign-in through its provider;
  a deactivated account never signs in.

The identity's email is taken in its normal form (:mod:`labvault.emails`) before any
rule sees it, the provider's :meth:`~labvault.plugin.AuthProvider.admits` included; one
that is not an address counts as none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labvault.auth.models import LinkedIdentity, Status, User
from labvault.auth.service import start_session
from labvault.auth.tokens import TokenSigner
from labvault.db import begin_write, utcnow
from labvault.emails import InvalidEmail, normalize_email
from labvault.errors import Conflict, Forbidden, NotFound, ServerFault
from labvault.plugin import AuthProvider, Identity, SessionTokens


@dataclass(frozen=True)
class Decision:
    """What a sign-in would do: reach ``user`` (None: register a new account)."""

    user: User | None
    linked: LinkedIdentity | None
    admitted: bool


def provider_for(providers: Mapping[str, AuthProvider], identity: Identity) -> AuthProvider:
    try:
        return providers[identity.provider]
    except KeyError:
        raise NotFound(f"no sign-in provider {identity.provider!r} is enabled") from None


def with_normal_email(identity: Identity) -> Identity:
    """The identity with its email in normal form, or without one that is no address."""
    if identity.email is None:
        return identity
    try:
        return replace(identity, email=normalize_email(identity.email))
    except InvalidEmail:
        return replace(identity, email=None, email_verified=False)


def verified_email(identity: Identity) -> str | None:
    """The identity's email (see :func:`with_normal_email`) when its provider verified it."""
    return identity.email if identity.email_verified else None


def _decide(
    session: Session,
    provider: AuthProvider,
    identity: Identity,
    link_user_id: int | None,
    *,
    lock: bool,
) -> Decision:
    listed = provider.allow_list()
    admitted = bool(listed) and provider.admits(identity)
    if listed and not admitted:
        raise Forbidden(f"{provider.label}: you are not on the list of who may sign in here")
    # Lookups take no lock: on MariaDB a locking read that finds nothing locks the gap,
    # and two first sign-ins inserting into it deadlock. The unique constraints decide a
    # race instead (sign_in tries again); a row found is locked by its primary key.
    linked = session.scalars(
        sa.select(LinkedIdentity).where(
            LinkedIdentity.provider == identity.provider,
            LinkedIdentity.subject == identity.subject,
        )
    ).first()
    user_id: int | None = None
    if link_user_id is not None:
        user_id = link_user_id
        if linked is not None and linked.user_id != link_user_id:
            raise Conflict(
                f"this {provider.label} account is already linked to another labvault account"
            )
    elif linked is not None:
        user_id = linked.user_id
    else:
        email = verified_email(identity)
        if email is not None:
            user_id = session.scalars(sa.select(User.id).where(User.email == email)).first()
        if user_id is None and listed == []:
            raise Forbidden(
                f"{provider.label}: new accounts cannot register here; ask an admin to invite you"
            )
    user = None
    if user_id is not None:
        user = session.get(User, user_id, with_for_update=lock or None, populate_existing=lock)
        if user is None:
            raise NotFound("the account to sign in to no longer exists")
    if user is not None and user.status == Status.DEACTIVATED:
        raise Forbidden("the account is deactivated")
    return Decision(user, linked, admitted)


def check_sign_in(
    session: Session,
    provider: AuthProvider,
    identity: Identity,
    *,
    link_user_id: int | None = None,
) -> User | None:
    """The account a sign-in would reach (None: a new one), or the refusal it would meet
    (Forbidden, Conflict, NotFound); nothing is written."""
    identity = with_normal_email(identity)
    return _decide(session, provider, identity, link_user_id, lock=False).user


def may_sign_in(session: Session, provider: AuthProvider, identity: Identity) -> bool:
    try:
        check_sign_in(session, provider, identity)
    except (Forbidden, Conflict, NotFound):
        return False
    return True


def _register(session: Session, identity: Identity, admitted: bool) -> User:
    # an account holding this address was looked for already (_decide); one a sign-in
    # beside this one makes meanwhile fails the flush, and sign_in then reaches it
    email = verified_email(identity)
    name = identity.display_name.strip()[:200] or (email or "").split("@")[0]
    user = User(
        email=email,
        display_name=name or f"{identity.provider} user",
        status=Status.ACTIVE if admitted else Status.UNVERIFIED,
    )
    session.add(user)
    session.flush()
    return user


#: Tries of one sign-in when another made its account or identity first. The second
#: try sees what the other committed (the unique constraint waits for it), so more than
#: this means the constraint fails for another reason: a bug, not a race.
SIGN_IN_ATTEMPTS = 3


def sign_in(
    session: Session,
    signer: TokenSigner,
    provider: AuthProvider,
    identity: Identity,
    *,
    link_user_id: int | None = None,
) -> SessionTokens:
    """Apply the rules, record the identity and start a session. Commits.

    A sign-in beside this one that makes the same account or identity first breaks a
    unique constraint here: it is tried again (at most :data:`SIGN_IN_ATTEMPTS` times,
    then ServerFault), and then finds what the other made.
    """
    identity = with_normal_email(identity)
    for _ in range(SIGN_IN_ATTEMPTS):
        begin_write(session)
        try:
            user = _reach_account(session, provider, identity, link_user_id)
        except sa.exc.IntegrityError:
            session.rollback()
            continue
        except BaseException:
            session.rollback()
            raise
        return start_session(session, signer, user)
    raise ServerFault(
        f"signing in with {provider.label} broke a unique constraint "
        f"{SIGN_IN_ATTEMPTS} times in a row; nothing was written"
    )


def _reach_account(
    session: Session, provider: AuthProvider, identity: Identity, link_user_id: int | None
) -> User:
    """The account the sign-in reaches, registered or updated with the identity (flushed,
    in the write ``sign_in`` began)."""
    decision = _decide(session, provider, identity, link_user_id, lock=True)
    user = decision.user or _register(session, identity, decision.admitted)
    linked = decision.linked
    if linked is None:
        linked = LinkedIdentity(
            user_id=user.id, provider=identity.provider, subject=identity.subject
        )
        session.add(linked)
    linked.email = identity.email
    linked.email_verified = identity.email_verified
    linked.display_name = identity.display_name[:200]
    linked.last_sign_in_at = utcnow()
    if decision.admitted and user.status == Status.UNVERIFIED:
        user.status = Status.ACTIVE
    session.flush()
    return user


def list_identities(session: Session, user: User) -> list[LinkedIdentity]:
    return list(
        session.scalars(
            sa.select(LinkedIdentity)
            .where(LinkedIdentity.user_id == user.id)
            .order_by(LinkedIdentity.id)
        )
    )


def unlink_identity(session: Session, user: User, identity_id: int) -> None:
    """Remove one of the user's identities, never the last one. Commits."""
    begin_write(session)
    # locking the user's row serializes two removals that would together leave none
    session.get(User, user.id, with_for_update=True)
    identities = list_identities(session, user)
    if identity_id not in {identity.id for identity in identities}:
        session.rollback()
        raise NotFound(f"you have no identity with id {identity_id}")
    if len(identities) == 1:
        session.rollback()
        raise Conflict("this is your only way to sign in; link another one before removing it")
    session.execute(sa.delete(LinkedIdentity).where(LinkedIdentity.id == identity_id))
    session.commit()
