"""The host object: how a plugin reaches the core.

Each enabled plugin gets one :class:`Host`, named after it. Hooks that take a ``host``
argument receive it, and every instance of its types holds it as ``self.host``. A plugin
needs nothing else from labvault; should it need more, the host is what grows.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import IO, TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:  # a plugin that never opens a session need not import SQLAlchemy's ORM
    from sqlalchemy.orm import Session

    from labvault.plugin._jobs import JobQueue


@dataclass(frozen=True)
class Identity:
    """Who a sign-in provider says someone is, handed to :meth:`Host.sign_in`.

    ``provider`` is the provider instance's name (its key in ``AUTH_PROVIDERS``),
    ``subject`` the provider's own, stable id for the person, compared exactly (case
    and accents count). ``email_verified`` says whether the provider checked that the
    person owns ``email``; the core keeps and compares ``email`` in its normal form
    (:func:`~labvault.plugin.normalize_email`).
    """

    provider: str
    subject: str
    email: str | None = None
    email_verified: bool = False
    display_name: str = ""
    #: Organisations or groups the provider says the person belongs to (ids and names),
    #: for a provider's :meth:`~labvault.plugin.AuthProvider.admits`.
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class SessionTokens:
    """A new session: a short-lived access token and the refresh token that renews it."""

    access_token: str
    refresh_token: str
    #: Seconds the access token is valid.
    expires_in: int
    token_type: str = "Bearer"


@dataclass(frozen=True)
class StoredContent:
    """Content in the file store, named by its sha256."""

    sha256: str
    size: int


class ContentStore(abc.ABC):
    """The content-addressed file store: identical content is kept once. ``host.files``
    is the server's :class:`~labvault.plugin.FileStore` (``FILE_STORE``), which is one."""

    @abc.abstractmethod
    def store(self, stream: IO[bytes], *, max_size: int | None = None) -> StoredContent:
        """Keep everything ``stream`` yields (to its end) and return its digest and size.

        The content is kept for good (on disk and fsynced, for the ``local`` store)
        before this returns; a failure leaves nothing behind. Past ``max_size`` bytes it raises
        :class:`~labvault.plugin.ContentTooLarge` (a 413 in the API) and stores nothing.
        """

    @abc.abstractmethod
    def open(self, sha256: str) -> BinaryIO:
        """The stored content for reading (a seekable file); the caller closes it."""


class Host(abc.ABC):
    """The core as one plugin sees it. The core creates it; plugins only use it.

    Example::

        @hookimpl
        def labvault_startup(host):
            host.logger.info("bridge ready for %s", host.options["instrument"])
            with host.session() as session:
                host.record_version(session, "lab:ABCDEF", "bridge_sync")
    """

    @property
    @abc.abstractmethod
    def plugin_name(self) -> str:
        """The plugin's name in ``PLUGINS`` (a built-in: its module's name)."""

    @property
    @abc.abstractmethod
    def settings(self) -> Mapping[str, Any]:
        """Every validated setting, read-only (``config-template.py`` documents them)."""

    @property
    @abc.abstractmethod
    def options(self) -> Mapping[str, Any]:
        """This plugin's ``PLUGIN_OPTIONS`` entry, validated with its options schema."""

    @property
    @abc.abstractmethod
    def logger(self) -> logging.Logger:
        """A logger named after the plugin (``labvault.plugins.<name>``)."""

    @property
    @abc.abstractmethod
    def files(self) -> ContentStore:
        """The file store: keep a stream, open stored content by its sha256."""

    @property
    @abc.abstractmethod
    def jobs(self) -> JobQueue:
        """The jobs: record one (``host.jobs.enqueue("mail", {...}, key=...)``) to have
        it run in the background, retried after failures and resumed after a restart."""

    @abc.abstractmethod
    def session(self, *, write: bool = False) -> AbstractContextManager[Session]:
        """A database session for one transaction: committed when the ``with`` block
        ends, rolled back if it raises. It has a connection of its own, apart from the
        transaction of the request it may be used in.

        ``write=True`` takes the database's write lock at the start (SQLite), so that
        concurrent writers wait for each other instead of failing.
        """

    @abc.abstractmethod
    def sign_in(self, identity: Identity, *, link_user_id: int | None = None) -> SessionTokens:
        """Start a session for the account this identity belongs to.

        ``identity.provider`` must name an enabled ``AUTH_PROVIDERS`` instance. The core
        finds the account by the identity (or by an email both sides verified), or
        registers one under the instance's allow list; with ``link_user_id`` the identity
        joins that account instead. Refusals raise :class:`~labvault.plugin.Forbidden`
        (deactivated account, not on the allow list, registration closed) or
        :class:`~labvault.plugin.Conflict` (identity linked to another account).
        """

    @abc.abstractmethod
    def sign_in_response(
        self, identity: Identity, *, next_url: str | None = None, link_user_id: int | None = None
    ) -> Any:
        """:meth:`sign_in`, answered the way every sign-in is: with ``next_url`` a
        redirect carrying the tokens in its fragment, for ``Accept: application/json``
        the tokens as JSON, otherwise a page showing the access token. A provider's own
        route returns what this returns."""

    @abc.abstractmethod
    def may_sign_in(self, identity: Identity) -> bool:
        """Whether :meth:`sign_in` would let this identity in (nothing is written)."""

    @abc.abstractmethod
    def check_next_url(self, url: str | None, *, location: str = "query") -> str | None:
        """``url`` if tokens may be sent there (its origin is in ALLOWED_REDIRECT_ORIGINS);
        raises :class:`~labvault.plugin.Invalid` (about the field ``next`` sent in
        ``location``: ``query`` or ``json``) otherwise. None stays None."""

    @abc.abstractmethod
    def external_url(self, path: str) -> str:
        """The absolute URL of one of the server's paths under ``PUBLIC_URL``, e.g. for a
        link in a mail; never built from the request (its host is the client's choice).

        A provider type that calls it declares :attr:`AuthProvider.sends_links`, so that
        the server does not start without ``PUBLIC_URL``; without it, this raises (the
        request answers 500, saying so)."""

    @abc.abstractmethod
    def issue_ticket(self, purpose: str, data: Mapping[str, Any], lifetime: timedelta) -> str:
        """A random, single-use secret for ``purpose`` holding JSON ``data``, valid for
        ``lifetime``; only its hash is stored, in the database (any worker reads it)."""

    @abc.abstractmethod
    def read_ticket(self, purpose: str, secret: str, *, spend: bool) -> dict[str, Any] | None:
        """The data of a live ticket, or None when it is unknown, expired or used.
        ``spend=True`` uses it up: of two requests with one secret, one gets the data."""

    @abc.abstractmethod
    def rate_limit(self, key: str, limit: int, period: timedelta) -> float:
        """Count one attempt of ``key`` (an address, a client IP, ...): ``limit``
        attempts per ``period`` across all workers. Returns 0 when allowed, otherwise the
        seconds until the next attempt is (the attempt is not counted)."""

    @abc.abstractmethod
    def record_version(
        self, session: Session, refcode: str, action: str, *, user_id: int | None = None
    ) -> None:
        """Keep a new version of the item ``refcode`` (a snapshot of it with its blocks
        and files), recorded when ``session`` commits.

        ``action`` says what changed (at most 30 characters, e.g. ``"instrument_sync"``);
        ``user_id`` who did it (None: the plugin itself). Raises
        :class:`~labvault.plugin.NotFound` when there is no such item.
        """
