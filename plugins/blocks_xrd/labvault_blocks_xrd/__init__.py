"""labvault-blocks-xrd: the ``xrd`` block type for powder X-ray diffraction patterns.

A block reads one .xy / .xye (2θ, intensity, [error]) or PANalytical .xrdml file and
stores its peaks (2θ, d, Q, height, FWHM), the wavelength used and a Vega-Lite plot;
``plot.png`` draws it. See README.md for the options.
"""

from __future__ import annotations

from labvault.plugin import BlockType, hookimpl

from labvault_blocks_xrd.block import XRD

__all__ = ["XRD"]

#: The plugin API this plugin is written against (see plugins/README.md, "Plugin API versions").
LABVAULT_PLUGIN_API = ">=2.0,<3"


@hookimpl
def labvault_block_types() -> list[type[BlockType]]:
    return [XRD]
