"""The ``email`` sign-in provider: who gets a link, what it holds, and spending it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from labvault.plugin import (
    AuthProvider,
    Host,
    Identity,
    TooManyRequests,
    Unavailable,
    normalize_email,
)

from labvault_auth_email import jobs
from labvault_auth_email.mail import SignInMail, SmtpServer, compose
from labvault_auth_email.options import EmailLinkOptions, domain_admitted, domain_of
from labvault_auth_email.routes import build_blueprint

#: The core's tickets are random URL-safe text of 43 characters; longer input is junk.
MAX_TOKEN_LENGTH = 200
RATE_PERIOD = timedelta(hours=1)


class EmailLinkProvider(AuthProvider):
    """Sign in with a single-use link sent by mail to the address someone gives.

    ``POST /auth/<instance>/request`` mails the link (where the rules allow, always
    answering the same), ``GET /auth/<instance>/verify`` shows a page to confirm, and its
    form's ``POST`` spends the link and signs in. The address, in its normal form
    (``normalize_email``), is the identity's subject and where the mail goes; the mail
    proves the person reads it, so the identity's email is verified.
    """

    name = "email"
    display_name = "Email"
    sends_links = True  # under PUBLIC_URL: the server does not start without it
    description = "Sign in with a single-use link sent by mail"
    OptionsSchema = EmailLinkOptions

    def __init__(self, instance_name: str, options: Mapping[str, Any], host: Host) -> None:
        super().__init__(instance_name, options, host)
        self._server = SmtpServer.from_options(options)
        jobs.register(self)

    # --- the contract with the core ------------------------------------------------------

    def allow_list(self) -> Sequence[str] | None:
        listed = self.options["domain_allow_list"]
        return None if listed is None else list(listed)

    def admits(self, identity: Identity) -> bool:
        return domain_admitted(domain_of(identity.email or ""), list(self.allow_list() or ()))

    def login_url(self) -> str:
        return f"/auth/{self.instance_name}/request"

    def blueprints(self) -> list[Any]:
        return [build_blueprint(self)]

    # --- what the routes call ------------------------------------------------------------

    def identity(self, address: str) -> Identity:
        """Who asks with ``address``; InvalidEmail (422) when it is not an address."""
        normalized = normalize_email(address)
        return Identity(self.instance_name, normalized, normalized, email_verified=True)

    def request_link(self, address: str, next_url: str | None, client_ip: str) -> None:
        """Mail a link to ``address`` if the rules let it sign in; silent otherwise, so
        the caller learns nothing about accounts. Raises Invalid for a ``next`` outside
        ALLOWED_REDIRECT_ORIGINS and TooManyRequests when ``client_ip`` asked too often."""
        next_url = self._checked_next_url(next_url)
        wait = self.host.rate_limit(f"ip:{client_ip}", self.options["requests_per_ip"], RATE_PERIOD)
        if wait:
            raise TooManyRequests(
                "too many sign-in link requests from your network address; try again later",
                math.ceil(wait),
            )
        identity = self.identity(address)
        # may_sign_in applies the registration rules, domain_allow_list (admits) included
        if not self.host.may_sign_in(identity):
            return
        if not self._may_mail(identity.subject, client_ip):
            return  # a mailbox is not flooded, and the requester is not told
        # a job sends it (jobs.SignInMail): the answer does not wait for the SMTP server,
        # and a mail whose server is away, or whose process dies, is sent later. Each
        # request is a mail of its own: the rate limits above bound them, not a key.
        payload = {"instance": self.instance_name, "recipient": identity.subject, "next": next_url}
        self.host.jobs.enqueue(jobs.SignInMail.name, payload)

    def send_link(self, address: str, next_url: str | None) -> None:
        """Mail ``address`` a new link (a job's work: :class:`jobs.SignInMail`). Raises
        Unavailable, naming the SMTP server only, when the mail cannot be handed to it."""
        minutes = self.options["link_lifetime"]
        ticket = {"email": address, "next": next_url}
        token = self.host.issue_ticket(self._purpose, ticket, timedelta(minutes=minutes))
        mail = SignInMail(
            recipient=address,
            link=self.host.external_url(f"/auth/{self.instance_name}/verify?token={token}"),
            server=self.host.external_url("/").rstrip("/"),
            minutes=minutes,
        )
        message = compose(mail, sender=self.options["sender"], subject=self.options["subject"])
        server = self._server
        try:
            server.send(message)
        except Exception as exc:
            # the error names the server only: the message, holding the link, stays out
            problem = f"{type(exc).__name__}: {exc}"
            self.host.logger.error(
                "could not send a sign-in mail through SMTP server %s:%s: %s",
                server.host,
                server.port,
                problem,
            )
            raise Unavailable(f"SMTP server {server.host}:{server.port}: {problem}") from None

    def pending_link(self, token: str) -> dict[str, Any] | None:
        """What a live link holds, leaving it live (mail scanners open links too)."""
        return self._link(token, spend=False)

    def spend_link(self, token: str) -> dict[str, Any] | None:
        """What a live link holds, using it up; None if unknown, expired or used."""
        return self._link(token, spend=True)

    # --- helpers -------------------------------------------------------------------------

    def _may_mail(self, address: str, client_ip: str) -> bool:
        """Count a mail to ``address`` asked for by ``client_ip``: each client gets an
        address a few mails an hour, so one client using up its count does not keep the
        address's owner from getting theirs; all clients together get it at most
        ``mails_per_address``. A client over its own count takes none of the address's."""
        per_client = self.options["mails_per_address_and_client"]
        # an address holds no space (normalize_email), so the key is unambiguous
        if self.host.rate_limit(f"address:{address} client:{client_ip}", per_client, RATE_PERIOD):
            return False
        per_address = self.options["mails_per_address"]
        return not self.host.rate_limit(f"address:{address}", per_address, RATE_PERIOD)

    def _link(self, token: str, *, spend: bool) -> dict[str, Any] | None:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        return self.host.read_ticket(self._purpose, token, spend=spend)

    @property
    def _purpose(self) -> str:
        # the core keeps tickets per plugin; per instance, a link works only where it began
        return f"link:{self.instance_name}"

    def _checked_next_url(self, next_url: str | None) -> str | None:
        return self.host.check_next_url(next_url, location="json")
