"""The core's implementation of :class:`labvault.plugin.Host`: one per plugin."""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

from sqlalchemy.orm import Session

from labvault.auth.tokens import TokenSigner
from labvault.db import Database, begin_write
from labvault.files.storage import FileStore
from labvault.plugin import Host, Identity, SessionTokens
from labvault.records import versions
from labvault.users import service as users


class Core(Protocol):
    """What a host needs of the app (its ``LabvaultState``)."""

    settings: dict[str, Any]
    database: Database
    signer: TokenSigner


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
        return FileStore(Path(self._app_state.settings["FILE_DIRECTORY"]))

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

    def sign_in(self, identity: Identity) -> SessionTokens:
        with self.session() as session:
            return users.sign_in(session, self._app_state.signer, identity)

    def record_version(
        self, session: Session, refcode: str, action: str, *, user_id: int | None = None
    ) -> None:
        versions.record_version(session, refcode, action, user_id=user_id)
