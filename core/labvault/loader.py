"""The plugin loader: finds installed plugins (entry points), imports the enabled ones into
pluggy and asks each of them its hooks.

Entry points in the ``labvault.plugins`` group are read once per ``sys.path`` (metadata
only); only the plugins named in ``PLUGINS`` are imported. Every problem (not installed,
fails to import, misspelled hook, a hook wrapper) is collected and reported together.
"""

from __future__ import annotations

import difflib
import importlib
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import importlib_metadata
import pluggy

from labvault import hookspecs
from labvault.errors import ConfigError
from labvault.plugin._markers import PROJECT_NAME

ENTRY_POINT_GROUP = "labvault.plugins"

#: The core's own features, registered through the same hooks as any plugin.
BUILTIN_MODULES = (
    "labvault.builtins.block_comment",
    "labvault.builtins.block_media",
    "labvault.builtins.block_tabular",
    "labvault.builtins.source_local",
    "labvault.builtins.target_local",
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
    found = _unknown_hooks(pm) + _wrappers(pm)
    problems += [f"plugin {labels.get(owner, owner)}: {problem}" for owner, problem in found]
    if not found:
        pm.check_pending()  # nothing left for it to find; kept as pluggy's own last word
    return pm, problems


def _hook_callers(pm: pluggy.PluginManager) -> dict[str, pluggy.HookCaller]:
    return {name: caller for name, caller in vars(pm.hook).items() if not name.startswith("_")}


def _unknown_hooks(pm: pluggy.PluginManager) -> list[tuple[str, str]]:
    """(plugin name, problem) for every hookimpl that matches no hookspec.

    Like ``pm.check_pending()``, but it reports all of them instead of the first.
    """
    callers = _hook_callers(pm)
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


def _wrappers(pm: pluggy.PluginManager) -> list[tuple[str, str]]:
    """(plugin name, problem) for every hook wrapper: labvault takes each plugin's own
    answer, so a wrapper around the others' answers would never see them."""
    return [
        (
            impl.plugin_name,
            f"{name} is a hook wrapper (@hookimpl(wrapper=True) or hookwrapper=True); "
            "labvault asks each plugin for its own answer: use a plain @hookimpl",
        )
        for name, caller in sorted(_hook_callers(pm).items())
        if caller.has_spec()
        for impl in caller.get_hookimpls()
        if impl.wrapper or impl.hookwrapper
    ]


def call_each(
    pm: pluggy.PluginManager,
    hook_name: str,
    *,
    hosts: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> tuple[list[tuple[str, Any]], list[str]]:
    """Ask every plugin that implements ``hook_name`` for its answer, one plugin at a time.

    Each call goes through pluggy (a caller restricted to that plugin), so an
    implementation may take any subset of the spec's arguments and hook tracing and
    monitoring see every call. With ``hosts`` (by plugin name) each plugin gets its own
    host as the ``host`` argument. Answers and failures carry the
    plugin's name; a failure does not stop the others from being asked.
    """
    plugins = dict(pm.list_name_plugin())
    answers: list[tuple[str, Any]] = []
    problems: list[str] = []
    # in registration order (built-ins, then PLUGINS), not pluggy's last-first call order
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        name = impl.plugin_name
        others = [plugin for other, plugin in plugins.items() if other != name]
        caller = pm.subset_hook_caller(hook_name, remove_plugins=others)
        arguments = {**kwargs, "host": hosts[name]} if hosts is not None else kwargs
        try:
            results = caller(**arguments)
        except ConfigError as exc:  # the plugin's own report, one line per problem
            problems += [f"plugin {name}: {problem}" for problem in exc.problems]
            continue
        except Exception as exc:  # report a broken plugin by name instead of a traceback
            problems.append(f"plugin {name}: {hook_name}() raised {type(exc).__name__}: {exc}")
            continue
        answers.append((name, results[0] if results else None))
    return answers, problems


def enabled_plugin_info(names: Iterable[str]) -> list[InstalledPlugin]:
    """Name, distribution and version of each enabled plugin (for /info)."""
    installed = installed_plugins()
    return [installed[name][0] for name in names if name in installed]
