"""A griffe extension for the API reference: the core's docstrings are written in reST
(``:class:`Host```, ``Example::``), which mkdocstrings renders as Markdown. Roles become
code (``:meth:`~labvault.plugin.Host.sign_in``` -> ``sign_in``), and a paragraph ending
in ``::`` ends in ``:`` (its indented block is a code block in Markdown too)."""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|data|mod|exc|obj):`(~?)([\w.]+)(?:\(\))?`")
LITERAL_BLOCK = re.compile(r"(?m)(\S)::$")


def markdown(text: str) -> str:
    """`text` with reST roles as code spans and ``::`` paragraph ends as ``:``."""
    text = ROLE.sub(lambda m: f"`{m[2].rsplit('.', 1)[-1] if m[1] else m[2]}`", text)
    return LITERAL_BLOCK.sub(r"\1:", text)


class SphinxRoles(griffe.Extension):
    """Rewrites every docstring griffe loads (modules, classes, functions, attributes)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
