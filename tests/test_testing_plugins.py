"""labvault.testing for plugin authors: a plugin registered from a module in a test,
without installing it, and the hook-call trace (``LABVAULT_TRACE_PLUGINS=1``).

This module is itself the plugin its first test registers: it holds a block type, its
hookimpl and ``LABVAULT_PLUGIN_API``, as a plugin's module would.
"""

from __future__ import annotations

import logging
import re
import sys
import types

import pytest
from labvault.errors import ConfigError
from labvault.plugin import BlockType, hookimpl

LABVAULT_PLUGIN_API = ">=2.0,<3"


class Spectrum(BlockType):
    name = "spectrum"
    description = "A spectrum defined in a test module"


@hookimpl
def labvault_block_types() -> list[type[BlockType]]:
    return [Spectrum]


@hookimpl
def labvault_startup(host) -> None:
    host.logger.info("spectra ready")


def block_type_names(app, make_user):
    response = app.test_client().get("/block-types", headers=make_user(app).headers)
    assert response.status_code == 200, response.json
    return {block_type["name"] for block_type in response.json}


def test_a_block_type_of_a_module_that_is_not_installed_is_served(
    labvault_make_app, labvault_make_user
):
    app = labvault_make_app(plugins=[sys.modules[__name__]])

    assert "spectrum" in block_type_names(app, labvault_make_user)
    assert app.extensions["labvault"].settings["PLUGINS"] == [__name__]


def test_a_module_is_registered_under_the_name_it_is_given(labvault_make_app, labvault_make_user):
    app = labvault_make_app(plugins={"spectra": sys.modules[__name__]}, PLUGINS=[])

    assert "spectrum" in block_type_names(app, labvault_make_user)
    assert app.extensions["labvault"].plugins.plugin_manager.has_plugin("spectra")


def test_a_registered_module_passes_the_plugin_api_gate_too(labvault_make_app):
    module = types.ModuleType("lvtest_unversioned")
    module.labvault_block_types = labvault_block_types  # type: ignore[attr-defined]

    with pytest.raises(ConfigError) as failure:
        labvault_make_app(plugins=[module])

    assert failure.value.problems == [
        "PLUGINS: plugin 'lvtest_unversioned' declares no plugin API range "
        '(e.g. LABVAULT_PLUGIN_API = ">=2.1,<3" in its module); this labvault provides 2.1'
    ]


def test_the_trace_switch_logs_each_hook_call_with_plugins_and_duration(
    labvault_make_app, monkeypatch, caplog
):
    monkeypatch.setenv("LABVAULT_TRACE_PLUGINS", "1")
    with caplog.at_level(logging.INFO, logger="labvault.plugins"):
        labvault_make_app(plugins={"spectra": sys.modules[__name__]})

    traced = [r.getMessage() for r in caplog.records if r.name == "labvault.plugins"]
    assert "hook labvault_block_types reached labvault.builtins.block_comment" in traced[0]
    ours = [line for line in traced if " reached spectra " in line]
    assert len(ours) == 2, traced
    assert re.fullmatch(
        r"hook labvault_block_types reached spectra with arguments \(\): \d+\.\d{3} ms", ours[0]
    ), ours
    # names of the arguments only: the host's and app's values are not shown
    assert re.fullmatch(
        r"hook labvault_startup reached spectra with arguments \(app, host\): \d+\.\d{3} ms",
        ours[1],
    ), ours


def test_without_the_switch_no_hook_call_is_logged(labvault_make_app, monkeypatch, caplog):
    monkeypatch.delenv("LABVAULT_TRACE_PLUGINS", raising=False)
    with caplog.at_level(logging.INFO, logger="labvault.plugins"):
        labvault_make_app(plugins={"spectra": sys.modules[__name__]})

    assert [r for r in caplog.records if r.name == "labvault.plugins"] == []
