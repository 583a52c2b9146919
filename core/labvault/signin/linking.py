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
from typing import Any

from sqlalchemy.orm import Session

from labvault.auth.tickets import issue_ticket, read_ticket, spend_ticket
from labvault.auth.tokens import TokenSigner
from labvault.plugin import AuthProvider, Identity, SessionTokens
from labvault.signin import service
from labvault.signin.browser import is_same_browser
from labvault.signin.flows import ANOTHER_BROWSER, LOGIN_LIFETIME, BadCallback
from labvault.signin.pages import form_page
from labvault.signin.urls import check_next_url, origin_of

CONFIRM_PURPOSE = "link-confirm"

_CONFIRM = """<h1>Add a way to sign in?</h1>
<p>You signed in with <strong>{{ provider }}</strong> as <strong>{{ identity }}</strong>.</p>
<p>Add this to the labvault account of <strong>{{ account }}</strong>? From then on,
signing in with {{ provider }} as {{ identity }} opens that account.</p>
<form method="post" action="{{ action }}">
<input type="hidden" name="confirmation" value="{{ secret }}">
<button type="submit">Add it to {{ account }}</button>
</form>
<p>If that is not your account, or you did not start this, close this page: nothing is
added.</p>
"""


def _named(name: str | None, detail: str | None) -> str:
    if name and detail and name != detail:
        return f"{name} ({detail})"
    return name or detail or ""


def ask_to_link(
    session: Session, provider: AuthProvider, identity: Identity, flow: dict[str, Any], action: str
) -> Any:
    """The page asking to add ``identity`` to the account the flow was started for; its
    form posts to ``action``. Raises the refusal a link would meet."""
    account = service.check_sign_in(session, provider, identity, link_user_id=flow["link_user_id"])
    assert account is not None  # a link always names its account (NotFound if it is gone)
    account_name = _named(account.display_name, account.email)
    pending = {
        "provider": provider.instance_name,
        "identity": dataclasses.asdict(identity),
        "link_user_id": flow["link_user_id"],
        "next": flow["next"],
        "browser": flow["browser"],
    }
    secret = issue_ticket(session, CONFIRM_PURPOSE, pending, LOGIN_LIFETIME)
    return form_page(
        _CONFIRM,
        "Add a way to sign in to labvault",
        redirects_to=[origin_of(flow["next"]) or ""] if flow["next"] else [],
        provider=provider.label,
        identity=_named(identity.display_name, identity.email or identity.subject),
        account=account_name,
        action=action,
        secret=secret,
    )


def confirm_link(
    session: Session,
    signer: TokenSigner,
    provider: AuthProvider,
    secret: str,
    allowed_origins: Sequence[str],
) -> tuple[SessionTokens, str | None]:
    """Add the identity the page named, once: (the account's tokens, next URL)."""
    unknown = BadCallback(
        "this confirmation is unknown, expired (after 10 minutes) or already used; "
        "start linking again"
    )
    pending = read_ticket(session, CONFIRM_PURPOSE, secret)
    if pending is None or pending["provider"] != provider.instance_name:
        raise unknown
    # checked before it is spent: a post from elsewhere leaves the person's page working
    if not is_same_browser(pending["browser"]):
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
