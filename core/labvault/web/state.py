"""What the routes take from the app for the services they call.

Services get what they need as arguments: the settings, the registry's instances, the
file store, the token signer. These functions build those from the app serving the
current request (``app.extensions["labvault"]``, made by :func:`labvault.app.create_app`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, cast

from flask import current_app

from labvault.auth.tokens import TokenSigner
from labvault.backups.strategies import Backups
from labvault.blocks.service import BlockTypes
from labvault.db import Database
from labvault.inventory.service import Importers
from labvault.jobs.service import Jobs
from labvault.plugin import FileStore
from labvault.registry import BLOCK_TYPES, Registry
from labvault.sources.service import FileSources


class AppState(Protocol):
    """What the web layer reads of the app's state."""

    settings: dict[str, Any]
    database: Database
    signer: TokenSigner
    #: The flask-smorest Api (its spec converts schemas to JSON schema).
    api: Any
    jobs: Jobs

    @property
    def registry(self) -> Registry: ...

    @property
    def file_store(self) -> FileStore: ...

    def backups(self) -> Backups: ...


def state() -> AppState:
    return cast(AppState, current_app.extensions["labvault"])


def settings() -> Mapping[str, Any]:
    return state().settings


def registry() -> Registry:
    return state().registry


def signer() -> TokenSigner:
    return state().signer


def file_store() -> FileStore:
    return state().file_store


def file_sources() -> FileSources:
    return FileSources.configured(settings(), registry())


def block_types() -> BlockTypes:
    return registry().instances_of(BLOCK_TYPES)


def importers() -> Importers:
    return Importers.configured(settings(), registry())


def backups() -> Backups:
    return state().backups()


def jobs() -> Jobs:
    return state().jobs
