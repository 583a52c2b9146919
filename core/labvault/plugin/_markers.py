"""pluggy's markers for labvault's hooks: specs in :mod:`labvault.hookspecs`, impls in plugins."""

from __future__ import annotations

import pluggy

PROJECT_NAME = "labvault"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marks a plugin's function as the implementation of the hook of the same name
(:mod:`labvault.hookspecs`): ``@hookimpl`` above ``def labvault_block_types(): ...``."""
