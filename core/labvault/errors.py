"""Error types shared by the core and plugins.

Everything labvault raises on purpose derives from :class:`LabvaultError`, so the CLI can
turn it into one clear line and the server into a JSON error instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable


class LabvaultError(Exception):
    """Base class of every error labvault raises on purpose."""


class ConfigError(LabvaultError):
    """The configuration (settings, plugins, plugin config) has one or more problems.

    ``problems`` holds every problem as ``"KEY.path: message"``, so a deployer sees them
    all at once instead of fixing one per restart.
    """

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))

    def report(self) -> str:
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        lines = [f"labvault configuration has {count} {noun}:"]
        lines += [f"  - {problem}" for problem in self.problems]
        return "\n".join(lines)


class PluginError(ConfigError):
    """A plugin cannot be enabled: not installed, fails to import, or breaks a hook rule."""

    def __init__(self, message: str) -> None:
        super().__init__([message])


class ExtensionError(LabvaultError):
    """A plugin's extension (block type, file source, ...) failed while doing its work.

    Plugins raise it with a message meant for the user; the core shows that message
    (for example as a block's ``error``) instead of answering 500.
    """
