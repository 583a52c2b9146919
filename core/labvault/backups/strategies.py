"""What backing up a server takes: its strategies (``BACKUP_STRATEGIES``) with their
targets, the config a snapshot keeps of it, its database and its file store.

:class:`Backups` is built once from the settings, the registry, the database and every
model's tables (by the web layer, the CLI, a test), and handed to :mod:`~labvault.backups.runs` and
:mod:`~labvault.backups.reports`, which read nothing else of the app; a backup run in a
thread of the server takes its own database session from it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from labvault.backups.codec import Passphrase
from labvault.backups.due import interval
from labvault.backups.redaction import public_config
from labvault.backups.repository import Repository
from labvault.db import Database
from labvault.errors import NotFound
from labvault.plugin import BackupTarget, FileStore
from labvault.registry import BACKUP_TARGETS, Registry


@dataclass(frozen=True)
class Strategy:
    name: str
    target: BackupTarget
    #: As configured ("1d"), and as a duration.
    every: str
    frequency: dt.timedelta
    retention: int
    encryption_key_env: str | None
    compression_level: int

    def repository(self) -> Repository:
        passphrase = (
            Passphrase.from_environment(self.encryption_key_env, self.name)
            if self.encryption_key_env
            else None
        )
        return Repository(self.target, passphrase, self.compression_level)


@dataclass(frozen=True)
class Backups:
    """The strategies of a server and what they back up."""

    settings: Mapping[str, Any]
    registry: Registry
    database: Database
    store: FileStore
    #: The tables a snapshot holds and a restore loads: every model's
    #: (``labvault.models.metadata``, which the caller imports: a process imports only
    #: the models it uses, and a snapshot of those alone would miss tables).
    metadata: sa.MetaData

    @classmethod
    def configured(
        cls,
        settings: Mapping[str, Any],
        registry: Registry,
        database: Database,
        metadata: sa.MetaData,
    ) -> Backups:
        return cls(settings, registry, database, registry.file_store(), metadata)

    @property
    def engine(self) -> sa.Engine:
        return self.database.engine

    def strategies(self) -> dict[str, Strategy]:
        configured: Mapping[str, Any] = self.settings["BACKUP_STRATEGIES"]
        targets = self.registry.instances_of(BACKUP_TARGETS)
        return {
            name: Strategy(
                name,
                targets[name],
                entry["frequency"],
                interval(entry["frequency"]),
                entry["retention"],
                entry["encryption_key_env"],
                entry["compression_level"],
            )
            for name, entry in configured.items()
        }

    def strategy(self, name: str) -> Strategy:
        """Strategy ``name``, or NotFound naming those there are."""
        strategies = self.strategies()
        found = strategies.get(name)
        if found is None:
            known = ", ".join(strategies) or "none (see BACKUP_STRATEGIES)"
            raise NotFound(f"no backup strategy {name!r}; strategies: {known}")
        return found

    def public_settings(self) -> dict[str, Any]:
        """The settings as a snapshot keeps them: without the secrets the schemas of this
        server's plugins and types declare, URL passwords, or secret-named values."""
        return public_config(self.settings, self.registry.settings_schemas(self.settings))
