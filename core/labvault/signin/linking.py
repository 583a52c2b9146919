"""Adding an identity to a signed-in account: confirmed by the person, in their browser.

A link is started by a script holding the account's bearer token (``link=true``), and
the provider's sign-in happens in whatever browser opens the URL the script got. That
may be someone else's: an attacker who sends their link's URL to a victim would have the
victim's identity added to the attacker's account, and every later sign-in of the victim
would land there. So a link ends on a page naming the account the identity would join;
only its button (a POST from this server's page, in the browser the flow is bound to)
adds it. Refusals (the identity is linked elsewhere, the allow list says no) come
before the page.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from labvault.auth.tickets import issue_ticket, read_ticket, spend_ticket
from labvault.auth.tokens import TokenSigner
from labvault.plugin import AuthProvider, Identity, SessionTokens
from labvault.signin import service
from labvault.signin.flows import ANOTHER_BROWSER, LOGIN_LIFETIME, BadCallback, is_same_browser
from labvault.signin.urls import check_next_url, origin_of

CONFIRM_PURPOSE = "link-confirm"


@dataclass(frozen=True)
class LinkQuestion:
    """What the page confirming a link names (:func:`ask_to_link`)."""

    #: The provider's label, and the identity as it names it.
    provider: str
    identity: str
    #: The account the identity would join.
    account: str
    #: The single-use secret the page's button posts.
    secret: str
    #: The origin of where the tokens go after it (the page's form may redirect there).
    next_origin: str | None


def _named(name: str | None, detail: str | None) -> str:
    if name and detail and name != detail:
        return f"{name} ({detail})"
    return name or detail or ""


def ask_to_link(
    session: Session, provider: AuthProvider, identity: Identity, flow: dict[str, Any]
) -> LinkQuestion:
    """What to ask before adding ``identity`` to the account the flow was started for
    (the web layer shows it on a page). Raises the refusal a link would meet."""
    account = service.check_sign_in(session, provider, identity, link_user_id=flow["link_user_id"])
    assert account is not None  # a link always names its account (NotFound if it is gone)
    pending = {
        "provider": provider.instance_name,
        "identity": dataclasses.asdict(identity),
        "link_user_id": flow["link_user_id"],
        "next": flow["next"],
        "browser": flow["browser"],
    }
    return LinkQuestion(
        provider=provider.label,
        identity=_named(identity.display_name, identity.email or identity.subject),
        account=_named(account.display_name, account.email),
        secret=issue_ticket(session, CONFIRM_PURPOSE, pending, LOGIN_LIFETIME),
        next_origin=origin_of(flow["next"]) if flow["next"] else None,
    )


def confirm_link(
    session: Session,
    signer: TokenSigner,
    provider: AuthProvider,
    secret: str,
    allowed_origins: Sequence[str],
    *,
    held_nonce: str,
) -> tuple[SessionTokens, str | None]:
    """Add the identity the page named, once, posted from the browser whose cookie holds
    ``held_nonce``: (the account's tokens, next URL)."""
    unknown = BadCallback(
        "this confirmation is unknown, expired (after 10 minutes) or already used; "
        "start linking again"
    )
    pending = read_ticket(session, CONFIRM_PURPOSE, secret)
    if pending is None or pending["provider"] != provider.instance_name:
        raise unknown
    # checked before it is spent: a post from elsewhere leaves the person's page working
    if not is_same_browser(held_nonce, pending["browser"]):
        raise BadCallback(ANOTHER_BROWSER)
    next_url = check_next_url(pending["next"], allowed_origins)
    if spend_ticket(session, CONFIRM_PURPOSE, secret) is None:
        raise unknown  # a second press of the button, at the same moment
    fields = pending["identity"]
    identity = Identity(**{**fields, "groups": tuple(fields["groups"])})
    tokens = service.sign_in(
        session, signer, provider, identity, link_user_id=pending["link_user_id"]
    )
    return tokens, next_url
