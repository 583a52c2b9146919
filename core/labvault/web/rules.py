"""The app's URL rules: Werkzeug's, whose URL builders are compiled on first use.

Werkzeug compiles two URL builders (Python source, ``compile`` and ``exec``) for each
rule as it is added, whether or not a URL is ever built from it; that was about two
thirds of what creating the app took once its modules were imported. Matching a request
needs none of it: ``url_for`` of an endpoint compiles that endpoint's builders the first
time it is called, and they are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.routing import Rule


class LazyBuilderRule(Rule):
    """A Werkzeug rule whose builders are compiled by the first URL built from it."""

    def _compile_builder(self, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
        attribute = "_build_unknown" if append_unknown else "_build"

        # Rule.compile binds what this returns to the rule (``__get__``), hence ``rule``
        def build_on_first_use(rule: Rule, *args: Any, **values: Any) -> tuple[str, str]:
            builder = Rule._compile_builder(rule, append_unknown).__get__(rule, None)
            setattr(rule, attribute, builder)  # two threads at once compile the same
            result: tuple[str, str] = builder(*args, **values)
            return result

        return build_on_first_use
