"""Sign-in providers: the base class and what a redirect provider is handed."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from labvault.plugin._types import PluginType

if TYPE_CHECKING:
    from labvault.plugin._host import Identity


@dataclass(frozen=True)
class AuthorizationRequest:
    """What a redirect provider puts into its authorization URL; the core made each value.

    ``state`` is single-use and valid 10 minutes; ``nonce`` goes into OpenID Connect
    requests (the id_token must carry it back); ``code_verifier`` is the PKCE secret, of
    which the URL carries only the S256 ``code_challenge``.
    """

    redirect_uri: str
    state: str
    nonce: str
    code_verifier: str

    @property
    def code_challenge(self) -> str:
        """The PKCE S256 challenge of ``code_verifier`` (RFC 7636)."""
        digest = hashlib.sha256(self.code_verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class AuthorizationCallback:
    """The provider's redirect back to labvault, its ``state`` already checked by the core.

    ``params`` are the callback's query parameters (``code``, ...); ``redirect_uri``,
    ``nonce`` and ``code_verifier`` are those of the :class:`AuthorizationRequest` the
    flow started with.
    """

    params: Mapping[str, str]
    redirect_uri: str
    nonce: str
    code_verifier: str


class AuthProvider(PluginType):
    """A way to sign in (OAuth or OpenID Connect provider, email link, ...).

    A provider only proves who someone is; the core owns accounts, sessions and tokens,
    and applies the registration rules the same way for every provider.

    *Redirect providers* implement :meth:`authorization_url` and
    :meth:`identity_from_callback`; the core serves ``/auth/<instance>/login`` and
    ``/auth/<instance>/callback`` for them and keeps the flow's state, bound to the
    browser that started it. A provider with routes of its own (an email link) serves
    them from :meth:`blueprints` and hands the identity it verified to
    ``self.host.sign_in_response``.

    A provider that sends people URLs of this server (a redirect provider's callback, a
    link in a mail) gets them from ``PUBLIC_URL`` only, never from the request, whose
    host the client chose; such a provider says so (:attr:`sends_links`,
    :attr:`needs_public_url`) and the server does not start without ``PUBLIC_URL``.

    Registration rules read :meth:`allow_list` and :meth:`admits`: ``None`` lets anyone
    register, ``[]`` lets no new account register (existing ones still sign in), and a
    list lets in only who it admits, checked at every sign-in.
    """

    #: Label on the sign-in button, e.g. ``"University login"``.
    display_name: ClassVar[str] = ""
    #: Whether the provider sends people links to this server from routes of its own
    #: (a sign-in link in a mail, built with ``self.host.external_url``).
    sends_links: ClassVar[bool] = False

    @property
    def label(self) -> str:
        """The name people see: the instance's ``display_name`` option, else the type's."""
        return str(self.options.get("display_name") or self.display_name or self.instance_name)

    @property
    def redirects(self) -> bool:
        """Whether this provider signs people in by redirecting them (it implements
        :meth:`authorization_url`)."""
        return type(self).authorization_url is not AuthProvider.authorization_url

    @property
    def needs_public_url(self) -> bool:
        """Whether this provider sends people absolute URLs of this server: its callback
        (it :attr:`redirects`) or links (:attr:`sends_links`). Then ``PUBLIC_URL`` is
        required, and startup and ``labvault config check`` report it missing."""
        return self.redirects or self.sends_links

    def authorization_url(self, request: AuthorizationRequest) -> str:
        """The provider's URL the browser is sent to, carrying ``request``'s values."""
        raise NotImplementedError

    def identity_from_callback(self, callback: AuthorizationCallback) -> Identity:
        """Check the provider's answer (exchange the code, verify what it signed) and
        return who signed in, with ``provider`` set to ``self.instance_name``.

        Raise :class:`~labvault.plugin.Forbidden` when the provider refused or the person
        may not sign in here, :class:`~labvault.plugin.Unauthenticated` when what came
        back fails a check, and :class:`~labvault.plugin.Unavailable` when the provider
        cannot be reached; each message is shown to the person signing in.
        """
        raise NotImplementedError

    def allow_list(self) -> Sequence[str] | None:
        """Who may sign in: None (anyone), ``[]`` (no new accounts) or the entries a
        deployer listed. By default the instance's ``allow_list`` option."""
        listed = self.options.get("allow_list")
        return None if listed is None else [str(entry) for entry in listed]

    def admits(self, identity: Identity) -> bool:
        """Whether a non-empty :meth:`allow_list` lets ``identity`` in; by default when
        it lists the identity's subject. The core hands the identity over with its email
        in normal form (:func:`~labvault.plugin.normalize_email`), or without one that
        is not an address; compare domains with
        :func:`~labvault.plugin.normalize_email_domain`."""
        return identity.subject in (self.allow_list() or ())

    def person_identifier(self, subject: str) -> str | None:
        """A persistent identifier, as a URI, of the person this provider knows as
        ``subject`` (a provider of researcher ids: the id's URI), or None (by
        default): what exports name the people who created items by."""
        return None

    def login_url(self) -> str | None:
        """Where sign-in with a provider that does not redirect starts (a path of its
        own routes, from the server's root: ``/auth/<instance>/request``), shown in
        ``GET /auth/providers`` under the path prefix the server is mounted at, if any."""
        return None

    def blueprints(self) -> list[Any]:
        """Flask or flask-smorest blueprints with this provider's own routes. The core
        counts every request to them towards the ``"signin"`` rate limit (429 with
        Retry-After past it), as it does ``/login`` and ``/callback``, and refuses (403)
        a form posted to them from another site: one whose ``Origin`` is not
        ``PUBLIC_URL``'s. A page whose form posts there sends ``Referrer-Policy:
        strict-origin`` (under ``no-referrer`` browsers post with ``Origin: null``)."""
        return []
