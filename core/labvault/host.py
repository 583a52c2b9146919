"""The core's implementation of :class:`labvault.plugin.Host`: one per plugin."""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from labvault.database import Database, begin_write
from labvault.plugin import AuthProvider, FileStore, Host, Identity, JobQueue, SessionTokens
from labvault.registry import AUTH_PROVIDERS, Registry
from labvault.signin.urls import check_next_url, external_url

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from labvault.auth.tokens import TokenSigner

# The services behind the host's methods (sign-in, tickets, rate limits, versions) are
# imported by their first call: every process gives each plugin a host, and most of
# them (a CLI command) call none of these.


class Core(Protocol):
    """What a host needs of the app (its ``LabvaultState``)."""

    settings: dict[str, Any]
    database: Database
    signer: TokenSigner

    @property
    def jobs(self) -> JobQueue: ...

    @property
    def registry(self) -> Registry: ...


def logger_name(plugin_name: str) -> str:
    """``labvault.plugins.<name>``; a built-in logs under its own module's name."""
    return plugin_name if plugin_name.startswith("labvault.") else f"labvault.plugins.{plugin_name}"


class CoreHost(Host):
    """A plugin's host. Its database, file store and ``sign_in`` work once the app that
    loads the plugin is built (:meth:`attach`); before, they say so."""

    def __init__(
        self, plugin_name: str, settings: Mapping[str, Any], options: Mapping[str, Any]
    ) -> None:
        self._plugin_name = plugin_name
        self._settings = MappingProxyType(copy.deepcopy(dict(settings)))
        self._options = MappingProxyType(copy.deepcopy(dict(options)))
        self._logger = logging.getLogger(logger_name(plugin_name))
        self._state: Core | None = None

    def attach(self, state: Core) -> None:
        """Connect the host to the app's database, file store and token signer."""
        self._state = state

    @property
    def _app_state(self) -> Core:
        if self._state is None:
            raise RuntimeError(
                f"plugin {self._plugin_name}: the host's database, file store and sign-in are "
                "ready once the app is created (use them from labvault_startup on)"
            )
        return self._state

    @property
    def plugin_name(self) -> str:
        return self._plugin_name

    @property
    def settings(self) -> Mapping[str, Any]:
        return self._settings

    @property
    def options(self) -> Mapping[str, Any]:
        return self._options

    @property
    def logger(self) -> logging.Logger:
        return self._logger

    @property
    def files(self) -> FileStore:
        return self._app_state.registry.file_store()

    @property
    def jobs(self) -> JobQueue:
        return self._app_state.jobs

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        session = self._app_state.database.sessionmaker()
        try:
            if write:
                begin_write(session)
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def _provider(self, identity: Identity) -> AuthProvider:
        from labvault.signin import service as signin

        return signin.provider_for(self._app_state.registry.instances_of(AUTH_PROVIDERS), identity)

    def sign_in(self, identity: Identity, *, link_user_id: int | None = None) -> SessionTokens:
        from labvault.signin import service as signin

        provider = self._provider(identity)
        with self.session() as session:
            return signin.sign_in(
                session, self._app_state.signer, provider, identity, link_user_id=link_user_id
            )

    def sign_in_response(
        self, identity: Identity, *, next_url: str | None = None, link_user_id: int | None = None
    ) -> Any:
        # the web layer (Flask) only where a response is made: the CLI runs without it
        from labvault.web.delivery import deliver

        next_url = self.check_next_url(next_url)
        return deliver(self.sign_in(identity, link_user_id=link_user_id), next_url)

    def may_sign_in(self, identity: Identity) -> bool:
        from labvault.signin import service as signin

        provider = self._provider(identity)
        with self.session() as session:
            return signin.may_sign_in(session, provider, identity)

    def check_next_url(self, url: str | None, *, location: str = "query") -> str | None:
        return check_next_url(url, self._settings["ALLOWED_REDIRECT_ORIGINS"], location)

    def external_url(self, path: str) -> str:
        return external_url(path, self._settings["PUBLIC_URL"])

    def _scoped(self, name: str) -> str:
        return f"{self._plugin_name}:{name}"

    def issue_ticket(self, purpose: str, data: Mapping[str, Any], lifetime: timedelta) -> str:
        from labvault.auth import tickets

        with self.session() as session:
            return tickets.issue_ticket(session, self._scoped(purpose), data, lifetime)

    def read_ticket(self, purpose: str, secret: str, *, spend: bool) -> dict[str, Any] | None:
        from labvault.auth import tickets

        with self.session() as session:
            if spend:
                return tickets.spend_ticket(session, self._scoped(purpose), secret)
            return tickets.read_ticket(session, self._scoped(purpose), secret)

    def rate_limit(self, key: str, limit: int, period: timedelta) -> float:
        from labvault.auth import limits

        with self.session() as session:
            return limits.take(session, self._scoped(key), limit, period)

    def record_version(
        self, session: Session, refcode: str, action: str, *, user_id: int | None = None
    ) -> None:
        from labvault.versions import service as versions

        versions.record_version(session, refcode, action, user_id=user_id)
