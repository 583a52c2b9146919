"""Checks of the machine a configuration is deployed on, for ``labvault config check``.

The settings can be valid and still fail at 3 a.m.: a backup's key variable missing from
cron's environment, a backup folder that was never mounted (a local target would make
it, on the root disk), a folder the server's user cannot write, a file store anyone on
the machine may read. These checks look at the environment and the file system, not at
the settings' form, so the server does not run them when it starts (a permission it
finds too open is a warning, not a reason to stay down); ``config check`` reports them
with the settings' problems, one line each with its key path.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The built-in backup target whose ``path`` is a folder of this machine.
LOCAL_TARGET_TYPE = "local"
#: The built-in file store, whose folder is FILE_DIRECTORY or its ``path``.
LOCAL_STORE_TYPE = "local"
#: Bits a private folder (the file store, the instance folder) must not have: group
#: write and anything for others (0750 at most).
FOLDER_TOO_OPEN = 0o027
#: Bits a key file must not have: anything for group or others (0600 at most).
KEY_FILE_TOO_OPEN = 0o077


@dataclass
class Findings:
    """What the checks found: errors (the deployment would fail) and warnings."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check_deployment(
    settings: Mapping[str, Any], *, environ: Mapping[str, str], dotenv: Path | None = None
) -> Findings:
    """Check what ``settings`` (validated, or as valid as they could be made) need of this
    machine; ``dotenv``: the deployment's ``.env`` file, if it has one."""
    findings = Findings()
    _check_backup_strategies(settings.get("BACKUP_STRATEGIES") or {}, environ, findings)
    instance = Path(settings["INSTANCE_PATH"])
    _check_private_folder("INSTANCE_PATH", instance, findings, made_with=None)
    store = settings.get("FILE_STORE") or {"type": LOCAL_STORE_TYPE}
    if isinstance(store, Mapping) and store.get("type") == LOCAL_STORE_TYPE:
        # another type keeps no folder on this machine (the registry checks its options)
        if isinstance(store.get("path"), str):
            folder = ("FILE_STORE.path", Path(store["path"]))
        else:
            folder = ("FILE_DIRECTORY", Path(settings["FILE_DIRECTORY"]))
        _check_private_folder(*folder, findings, made_with=instance)
    key_files = {"JWT_PRIVATE_KEY_FILE": settings.get("JWT_PRIVATE_KEY_FILE")}
    if dotenv is not None:
        key_files[".env"] = str(dotenv)
    for key, path in key_files.items():
        if path:
            _check_key_file(key, Path(path), findings)
    return findings


def _check_backup_strategies(
    strategies: Mapping[str, Any], environ: Mapping[str, str], findings: Findings
) -> None:
    for name, strategy in strategies.items():
        variable = strategy.get("encryption_key_env")
        if variable and not environ.get(variable):
            findings.errors.append(
                f"BACKUP_STRATEGIES.{name}.encryption_key_env: the environment variable "
                f"{variable} is not set (nothing could be backed up or restored)"
            )
        target = strategy.get("target")
        if isinstance(target, Mapping) and target.get("type") == LOCAL_TARGET_TYPE:
            path = target.get("path")
            if isinstance(path, str) and path.startswith("/"):
                key = f"BACKUP_STRATEGIES.{name}.target.path"
                problem = _folder_problem(Path(path))
                if problem:
                    findings.errors.append(
                        f"{key}: {problem} (make it beforehand, owned by the user labvault "
                        "runs as: a backup would otherwise write where it is not mounted)"
                    )


def _folder_problem(path: Path) -> str | None:
    """Why ``path`` is no folder this process can write into; None if it is one."""
    if not path.exists():
        return f"folder {path} does not exist"
    if not path.is_dir():
        return f"{path} is not a folder"
    if not os.access(path, os.W_OK | os.X_OK):
        return f"folder {path} is not writable by this user"
    return None


def _check_private_folder(
    key: str, path: Path, findings: Findings, *, made_with: Path | None
) -> None:
    """A folder the server makes if missing: it, or the parent it is made in, must be a
    writable folder; an existing one must be private. ``made_with``: a folder made
    before this one (the instance folder, which holds the default file store)."""
    if path.exists():
        problem = _folder_problem(path)
        if problem:
            findings.errors.append(f"{key}: {problem}")
            return
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & FOLDER_TOO_OPEN:
            findings.warnings.append(
                f"{key}: folder {path} has mode {mode:04o}; make it private to the server's "
                f"user (chmod 700 {path}, or 750 for a group that backs it up)"
            )
        return
    parent = path.parent
    if parent == made_with and not parent.exists():
        parent = parent.parent
    problem = _folder_problem(parent)
    if problem:
        findings.errors.append(f"{key}: {path} cannot be made: {problem}")


def _check_key_file(key: str, path: Path, findings: Findings) -> None:
    if not path.is_file():
        return  # a missing JWT key file is a settings problem, reported with them
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & KEY_FILE_TOO_OPEN:
        findings.warnings.append(
            f"{key}: {path} has mode {mode:04o} and holds a secret; make it readable by "
            f"the server's user only (chmod 600 {path})"
        )
