"""Finding installed plugins (entry points) and loading the enabled ones into pluggy.

Entry points in the ``labvault.plugins`` group are read once per ``sys.path`` (metadata
only); only the plugins named in ``PLUGINS`` are imported. Every problem (not installed,
fails to import, misspelled hook) is collected and reported together.
"""

from __future__ import annotations

import difflib
import importlib
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import importlib_metadata
import pluggy

from labvault import hookspecs
from labvault.errors import ConfigError
from labvault.hookspecs import PROJECT_NAME

ENTRY_POINT_GROUP = "labvault.plugins"

#: The core's own features, registered through the same hooks as any plugin.
BUILTIN_MODULES = (
    "labvault.builtins.block_comment",
    "labvault.builtins.block_media",
    "labvault.builtins.block_tabular",
)


@dataclass(frozen=True)
class InstalledPlugin:
    """A plugin found through its entry point; nothing of it is imported yet."""

    name: str
    distribution: str
    version: str
    entry_point: importlib_metadata.EntryPoint = field(compare=False, repr=False)

    @property
    def label(self) -> str:
        return f"{self.name} (distribution {self.distribution} {self.version})"


_installed_cache: dict[tuple[str, ...], dict[str, list[InstalledPlugin]]] = {}


def installed_plugins() -> dict[str, list[InstalledPlugin]]:
    """Installed plugins by entry-point name (a name two distributions claim has two)."""
    key = tuple(sys.path)
    if key not in _installed_cache:
        found: dict[str, list[InstalledPlugin]] = {}
        for ep in importlib_metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist
            plugin = InstalledPlugin(
                name=ep.name,
                distribution=dist.name if dist else "?",
                version=dist.version if dist else "?",
                entry_point=ep,
            )
            found.setdefault(ep.name, []).append(plugin)
        _installed_cache.clear()
        _installed_cache[key] = found
    return _installed_cache[key]


def _installed_names() -> str:
    return ", ".join(sorted(installed_plugins())) or "none"


def _load(name: str) -> tuple[InstalledPlugin | None, Any, str | None]:
    """Import one enabled plugin. Returns (plugin, module, problem)."""
    candidates = installed_plugins().get(name, [])
    if not candidates:
        return (
            None,
            None,
            (f"PLUGINS: plugin {name!r} is not installed; installed plugins: {_installed_names()}"),
        )
    if len(candidates) > 1:
        owners = ", ".join(f"{c.distribution} {c.version}" for c in candidates)
        return (
            None,
            None,
            f"PLUGINS: plugin {name!r} is provided by several distributions: {owners}",
        )
    plugin = candidates[0]
    try:
        module = plugin.entry_point.load()
    except Exception as exc:  # any import-time failure must name the plugin, not crash
        return plugin, None, f"plugin {plugin.label} failed to import: {type(exc).__name__}: {exc}"
    return plugin, module, None


def build_plugin_manager(enabled: Sequence[str]) -> tuple[pluggy.PluginManager, list[str]]:
    """A plugin manager with the built-ins and the enabled plugins, plus every problem."""
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for module_name in BUILTIN_MODULES:
        pm.register(importlib.import_module(module_name), name=module_name)
    problems: list[str] = []
    labels: dict[str, str] = {}
    for name in enabled:
        plugin, module, problem = _load(name)
        if problem:
            problems.append(problem)
            continue
        assert plugin is not None
        labels[name] = plugin.label
        try:
            pm.register(module, name=name)
        except pluggy.PluginValidationError as exc:
            # pluggy's message spans lines; the startup report has one line per problem
            problems.append(f"plugin {plugin.label}: {'; '.join(str(exc).splitlines())}")
        except ValueError:  # pluggy refuses one module under two names
            other = pm.get_name(module)
            problems.append(f"plugin {plugin.label}: its module is already enabled as {other}")
    unknown = _unknown_hooks(pm)
    problems += [f"plugin {labels.get(owner, owner)}: {problem}" for owner, problem in unknown]
    if not unknown:
        pm.check_pending()  # nothing left for it to find; kept as pluggy's own last word
    return pm, problems


def _unknown_hooks(pm: pluggy.PluginManager) -> list[tuple[str, str]]:
    """(plugin name, problem) for every hookimpl that matches no hookspec.

    Like ``pm.check_pending()``, but it reports all of them instead of the first.
    """
    callers = {name: caller for name, caller in vars(pm.hook).items() if not name.startswith("_")}
    known = sorted(name for name, caller in callers.items() if caller.has_spec())
    found = []
    for name, caller in sorted(callers.items()):
        if caller.has_spec():
            continue
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {close[0]}?" if close else "is the function name misspelled?"
        for impl in caller.get_hookimpls():
            if not impl.optionalhook:
                found.append(
                    (
                        impl.plugin_name,
                        f"unknown hook {name!r} ({hint}); known hooks: {', '.join(known)}",
                    )
                )
    return found


def call_each(
    pm: pluggy.PluginManager, hook_name: str, **kwargs: Any
) -> tuple[list[tuple[str, Any]], list[str]]:
    """Call a hook on every plugin separately, so answers and failures carry its name."""
    answers: list[tuple[str, Any]] = []
    problems: list[str] = []
    # in registration order (built-ins, then PLUGINS), not pluggy's last-first call order
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        try:
            answers.append((impl.plugin_name, impl.function(**kwargs)))
        except ConfigError as exc:  # the plugin's own report, one line per problem
            problems += [f"plugin {impl.plugin_name}: {problem}" for problem in exc.problems]
        except Exception as exc:  # report a broken plugin by name instead of a traceback
            problems.append(
                f"plugin {impl.plugin_name}: {hook_name}() raised {type(exc).__name__}: {exc}"
            )
    return answers, problems


def enabled_plugin_info(names: Iterable[str]) -> list[InstalledPlugin]:
    """Name, distribution and version of each enabled plugin (for /info)."""
    installed = installed_plugins()
    return [installed[name][0] for name in names if name in installed]
