"""labvault-interchange-eln: exports to the ELN Consortium's ``.eln`` format.

An ``.eln`` file is an RO-Crate 1.1 (``ro-crate-metadata.json`` with the data files) in
a zip with one root folder; datalab, Kadi4Mat, eLabFTW, PASTA, SampleDB and RSpace read
and write it. With this plugin enabled, ``GET /items/<refcode>/export.eln`` and
``labvault export --format eln`` write one. See README.md.
"""

from __future__ import annotations

from labvault.plugin import InterchangeFormat, hookimpl

from labvault_interchange_eln.writer import ElnFormat

__all__ = ["ElnFormat"]

#: The plugin API this plugin is written against (see plugins/README.md, "Plugin API versions").
LABVAULT_PLUGIN_API = ">=2.0,<3"


@hookimpl
def labvault_interchange_formats() -> list[type[InterchangeFormat]]:
    return [ElnFormat]
