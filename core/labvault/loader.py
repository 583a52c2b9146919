"""The plugin loader: finds installed plugins (entry points), imports the enabled ones into
pluggy and asks each of them its hooks.

Entry points in the ``labvault.plugins`` group are read once per ``sys.path`` (metadata
only); only the plugins named in ``PLUGINS`` are imported. Each declares the plugin API
range it needs (``LABVAULT_PLUGIN_API = ">=2.0,<3"`` in the module its entry point
names), and one whose range excludes :data:`labvault.plugin.API_VERSION` is refused.
Every problem (not installed, fails to import, needs another plugin API, misspelled hook,
a hook wrapper) is collected and reported together.
"""

from __future__ import annotations

import ast
import difflib
import importlib
import importlib.util
import logging
import os
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from labvault import hookspecs
from labvault.errors import ConfigError
from labvault.plugin import API_VERSION
from labvault.plugin._markers import PROJECT_NAME

if TYPE_CHECKING:
    import importlib_metadata

# The entry points (importlib_metadata) are read, and plugin API ranges parsed
# (packaging), only where a plugin is enabled or listed: the built-ins need neither.

ENTRY_POINT_GROUP = "labvault.plugins"
#: The module attribute holding the plugin API range a plugin needs (a PEP 440 specifier set).
PLUGIN_API_ATTRIBUTE = "LABVAULT_PLUGIN_API"
#: ``LABVAULT_TRACE_PLUGINS=1`` logs every hook call (logger ``labvault.plugins``, INFO).
TRACE_ENV_VAR = "LABVAULT_TRACE_PLUGINS"

trace_logger = logging.getLogger("labvault.plugins")

#: The core's own features, registered through the same hooks as any plugin.
BUILTIN_MODULES = (
    "labvault.builtins.block_comment",
    "labvault.builtins.block_media",
    "labvault.builtins.block_tabular",
    "labvault.builtins.item_sample",
    "labvault.builtins.item_starting_material",
    "labvault.builtins.item_cell",
    "labvault.builtins.item_equipment",
    "labvault.builtins.source_local",
    "labvault.builtins.target_local",
    "labvault.builtins.jobs_embedded",
    "labvault.builtins.store_local",
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
        import importlib_metadata

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
    return plugin, module, plugin_api_problem(name, module)


def declared_plugin_api(module: Any) -> Any:
    """What ``module`` declares as the plugin API range it needs (None: nothing)."""
    return getattr(module, PLUGIN_API_ATTRIBUTE, None)


def read_declared_plugin_api(plugin: InstalledPlugin) -> str | None:
    """The plugin API range an installed plugin declares (a string literal assigned to
    ``LABVAULT_PLUGIN_API`` at the top of the module its entry point names), read from its
    source without importing it; None if it declares none or its source is not found."""
    module = plugin.entry_point.module
    if "." in module:  # finding a submodule would import its package
        return None
    try:
        spec = importlib.util.find_spec(module)
        origin = spec.origin if spec else None
        if origin is None or not origin.endswith(".py"):
            return None
        with open(origin, encoding="utf-8") as source:
            tree = ast.parse(source.read())
    except (ImportError, OSError, SyntaxError, ValueError):
        return None
    for statement in tree.body:
        if (
            isinstance(statement, ast.Assign)
            and [getattr(target, "id", None) for target in statement.targets]
            == [PLUGIN_API_ATTRIBUTE]
            and isinstance(statement.value, ast.Constant)
            and isinstance(statement.value.value, str)
        ):
            return statement.value.value
    return None


def plugin_api_problem(name: str, module: Any) -> str | None:
    """One line if plugin ``name`` (its module) does not declare a plugin API range that
    admits this labvault's :data:`~labvault.plugin.API_VERSION`, else None."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    declared = declared_plugin_api(module)
    provides = f"this labvault provides {API_VERSION}"
    major = int(API_VERSION.split(".")[0])
    example = f'{PLUGIN_API_ATTRIBUTE} = ">={API_VERSION},<{major + 1}"'
    if declared is None:
        return (
            f"PLUGINS: plugin {name!r} declares no plugin API range "
            f"(e.g. {example} in its module); {provides}"
        )
    try:
        if not isinstance(declared, str) or not declared.strip():
            raise InvalidSpecifier(repr(declared))
        needs = SpecifierSet(declared)
    except InvalidSpecifier:
        return (
            f"PLUGINS: plugin {name!r} declares plugin API {declared!r}, which is not a "
            f"version range (e.g. {example}); {provides}"
        )
    if not needs.contains(API_VERSION, prereleases=True):
        return f"PLUGINS: plugin {name!r} needs plugin API {declared.strip()}; {provides}"
    return None


def _given(name: str, module: ModuleType) -> tuple[str, Any, str | None]:
    """A module a test registers without installing it: (label, module, problem)."""
    return (
        f"{name} (module {module.__name__}, not installed)",
        module,
        plugin_api_problem(name, module),
    )


def build_plugin_manager(
    enabled: Sequence[str], modules: Mapping[str, ModuleType] | None = None
) -> tuple[pluggy.PluginManager, list[str]]:
    """A plugin manager with the built-ins and the enabled plugins, plus every problem.

    ``modules`` (by plugin name) are plugins given as modules instead of installed ones
    (``labvault_make_app(plugins=[module])`` in a test); a name in ``enabled`` is looked
    up there first.
    """
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    if os.environ.get(TRACE_ENV_VAR) == "1":
        trace_hook_calls(pm)
    for module_name in BUILTIN_MODULES:
        pm.register(importlib.import_module(module_name), name=module_name)
    problems: list[str] = []
    labels: dict[str, str] = {}
    for name in enabled:
        if modules and name in modules:
            label, module, problem = _given(name, modules[name])
        else:
            plugin, module, problem = _load(name)
            label = plugin.label if plugin else name
        if problem:
            problems.append(problem)
            continue
        labels[name] = label
        try:
            pm.register(module, name=name)
        except pluggy.PluginValidationError as exc:
            # pluggy's message spans lines; the startup report has one line per problem
            problems.append(f"plugin {label}: {'; '.join(str(exc).splitlines())}")
        except ValueError:  # pluggy refuses one module under two names
            other = pm.get_name(module)
            problems.append(f"plugin {label}: its module is already enabled as {other}")
    found = _unknown_hooks(pm) + _wrappers(pm)
    problems += [f"plugin {labels.get(owner, owner)}: {problem}" for owner, problem in found]
    if not found:
        pm.check_pending()  # nothing left for it to find; kept as pluggy's own last word
    return pm, problems


def trace_hook_calls(pm: pluggy.PluginManager) -> None:
    """Log each hook call of ``pm``: the hook, the plugins it reaches, the names of its
    arguments (never their values: they may hold settings) and the time it took."""
    started = threading.local()

    def before(hook_name: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]) -> None:
        stack = started.__dict__.setdefault("stack", [])
        stack.append(time.perf_counter())

    def after(
        outcome: Any,
        hook_name: str,
        impls: Sequence[pluggy.HookImpl],
        kwargs: Mapping[str, Any],
    ) -> None:
        took = time.perf_counter() - started.stack.pop()
        trace_logger.info(
            "hook %s reached %s with arguments (%s): %.3f ms%s",
            hook_name,
            ", ".join(impl.plugin_name for impl in impls) or "no plugin",
            ", ".join(kwargs),
            took * 1000,
            "" if outcome.exception is None else f", raised {type(outcome.exception).__name__}",
        )

    pm.add_hookcall_monitoring(before, after)


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
