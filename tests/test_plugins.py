"""The plugin mechanism: finding, enabling and checking plugins, with real distributions.

Every test installs small plugin distributions into ``tmp_path`` (see plugin_dists.py)
and builds an app from a settings dict; none of them touches the database.
"""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner
from labvault.app import create_app
from labvault.cli import cli, main
from labvault.errors import ConfigError
from labvault.loader import build_plugin_manager, call_each, installed_plugins
from labvault.registry import BLOCK_TYPES, FILE_SOURCES

from tests.plugin_dists import app_settings, write_config

XRD = """
    from labvault.plugin import BlockType, hookimpl

    class XRDPattern(BlockType):
        name = "xrd"
        description = "X-ray diffraction pattern"

    @hookimpl
    def labvault_block_types():
        return [XRDPattern]
"""

SFTP = """
    import marshmallow as ma
    from labvault.plugin import FileSource, hookimpl

    class SFTPOptions(ma.Schema):
        class Meta:
            unknown = ma.RAISE

        host = ma.fields.String(required=True)
        port = ma.fields.Integer(load_default=22, validate=ma.validate.Range(1, 65535))

    class SFTPSource(FileSource):
        name = "sftp"
        OptionsSchema = SFTPOptions

    @hookimpl
    def labvault_file_source_types():
        return [SFTPSource]
"""

BROKEN_BLOCK_TYPES = """
    from labvault.plugin import hookimpl

    @hookimpl
    def labvault_block_types():
        raise KeyError("no types")
"""

RAISES_ON_IMPORT = """
    raise RuntimeError("needs the vendor SDK")
"""


def listed_after(message, marker):
    return message.split(marker, 1)[1].split(", ")


# --- finding and enabling ------------------------------------------------------------


def test_a_plugin_is_enabled_by_its_entry_point_name(dists, make_app, startup_problems):
    dists.add("xrd", XRD, dist="labvault-xrd", version="2.3.1", module="lvtest_diffraction")

    info = make_app(PLUGINS=["xrd"]).test_client().get("/info").json

    assert info["plugins"] == [{"name": "xrd", "distribution": "labvault-xrd", "version": "2.3.1"}]
    assert "xrd" in [block_type["name"] for block_type in info["block_types"]]
    # neither the module nor the distribution name enables it
    for other_name in ("lvtest_diffraction", "labvault-xrd"):
        [problem] = startup_problems(PLUGINS=[other_name])
        assert problem.startswith(f"PLUGINS: plugin {other_name!r} is not installed;")


def test_an_entry_point_outside_the_labvault_plugins_group_is_no_plugin(dists, startup_problems):
    dists.add("xrd", XRD, group="labvault.plugin")
    dists.add("sftp", SFTP)

    [problem] = startup_problems(PLUGINS=["xrd"])

    assert problem.startswith("PLUGINS: plugin 'xrd' is not installed; installed plugins: ")
    installed = listed_after(problem, "installed plugins: ")
    assert "sftp" in installed
    assert "xrd" not in installed


def test_a_plugin_that_is_not_installed_stops_startup_listing_the_installed(
    dists, startup_problems
):
    dists.add("beta", XRD)
    dists.add("alpha", SFTP)

    [problem] = startup_problems(PLUGINS=["gamma"])

    assert problem.startswith("PLUGINS: plugin 'gamma' is not installed; installed plugins: ")
    installed = listed_after(problem, "installed plugins: ")
    assert {"alpha", "beta"} <= set(installed)
    assert installed == sorted(installed)


@pytest.mark.parametrize(
    ("source", "error"),
    [
        (RAISES_ON_IMPORT, "RuntimeError: needs the vendor SDK"),
        (None, "ModuleNotFoundError: No module named 'lvtest_broken'"),
    ],
    ids=["raises", "module-missing"],
)
def test_a_plugin_that_fails_to_import_stops_startup_naming_plugin_and_version(
    dists, startup_problems, source, error
):
    dists.add("broken", source, dist="labvault-broken", version="0.4.0")

    assert startup_problems(PLUGINS=["broken"]) == [
        f"plugin broken (distribution labvault-broken 0.4.0) failed to import: {error}"
    ]


def test_one_plugin_name_from_two_distributions_is_an_error(dists, startup_problems):
    first = dists.add("xrd", XRD, dist="labvault-xrd", version="1.0.0", module="lvtest_xrd_a")
    second = dists.add("xrd", XRD, dist="xrd-tools", version="3.1.0", module="lvtest_xrd_b")

    [problem] = startup_problems(PLUGINS=["xrd"])

    assert problem.startswith("PLUGINS: plugin 'xrd' is provided by several distributions: ")
    owners = listed_after(problem, "distributions: ")
    assert sorted(owners) == ["labvault-xrd 1.0.0", "xrd-tools 3.1.0"]
    assert first not in sys.modules
    assert second not in sys.modules


def test_only_enabled_plugins_are_imported(dists, make_app):
    enabled = dists.add("xrd", XRD)
    # importing this one would stop startup, so the app starting proves it stays unread
    disabled = dists.add("broken", RAISES_ON_IMPORT)
    assert {"xrd", "broken"} <= set(installed_plugins())
    assert enabled not in sys.modules

    make_app(PLUGINS=["xrd"])

    assert enabled in sys.modules
    assert disabled not in sys.modules


# --- hook implementations ------------------------------------------------------------


def test_a_misspelled_hookimpl_stops_startup_naming_the_plugin(dists, startup_problems):
    dists.add(
        "typo",
        """
        from labvault.plugin import hookimpl

        @hookimpl
        def labvault_blok_types():
            return []
        """,
        dist="labvault-typo",
        version="0.1.0",
    )

    [problem] = startup_problems(PLUGINS=["typo"])

    assert problem.startswith(
        "plugin typo (distribution labvault-typo 0.1.0): unknown hook 'labvault_blok_types'"
    )
    assert "did you mean labvault_block_types?" in problem
    known = listed_after(problem, "known hooks: ")
    assert "labvault_startup" in known
    assert "labvault_blok_types" not in known


def test_a_hookimpl_with_a_wrong_argument_name_is_refused(dists, startup_problems):
    dists.add(
        "wrongarg",
        """
        from labvault.plugin import hookimpl

        @hookimpl
        def labvault_startup(application):
            pass
        """,
        dist="labvault-wrongarg",
        version="1.2.0",
    )

    [problem] = startup_problems(PLUGINS=["wrongarg"])

    assert problem.startswith("plugin wrongarg (distribution labvault-wrongarg 1.2.0): ")
    assert "labvault_startup" in problem
    assert "{'application'}" in problem
    assert "\n" not in problem


def test_a_hookimpl_may_take_fewer_arguments_than_its_spec(dists, make_app):
    module = dists.add(
        "quiet",
        """
        from flask import Blueprint
        from labvault.plugin import hookimpl

        calls = []
        blp = Blueprint("quiet", __name__, url_prefix="/quiet")
        blp.add_url_rule("/", "hello", lambda: "hello")

        @hookimpl
        def labvault_startup():  # the spec offers app and host; it takes neither
            calls.append("startup")

        @hookimpl
        def labvault_blueprints():  # the spec offers host
            return [blp]

        @hookimpl
        def labvault_cli_commands(host):  # a subset that is not empty
            calls.append(host.plugin_name)
            return []
        """,
    )

    app = make_app(PLUGINS=["quiet"])

    assert sys.modules[module].calls == ["startup"]
    assert app.test_client().get("/quiet/").get_data(as_text=True) == "hello"
    answers, problems = app.extensions["labvault"].plugins.call("labvault_cli_commands")
    assert (answers, problems) == ([("quiet", [])], [])
    assert sys.modules[module].calls == ["startup", "quiet"]


@pytest.mark.parametrize("marker", ["wrapper=True", "hookwrapper=True"])
def test_a_hook_wrapper_is_refused_by_name(dists, startup_problems, marker):
    dists.add(
        "wrapping",
        f"""
        from labvault.plugin import hookimpl

        @hookimpl({marker})
        def labvault_block_types():
            result = yield
            return result
        """,
        dist="labvault-wrapping",
    )

    assert startup_problems(PLUGINS=["wrapping"]) == [
        "plugin wrapping (distribution labvault-wrapping 1.0.0): labvault_block_types is a "
        "hook wrapper (@hookimpl(wrapper=True) or hookwrapper=True); labvault asks each "
        "plugin for its own answer: use a plain @hookimpl"
    ]


def test_hook_calls_go_through_pluggy_where_monitoring_sees_them(dists):
    dists.add("xrd", XRD)
    dists.add("broken", BROKEN_BLOCK_TYPES)
    pm, problems = build_plugin_manager(["xrd", "broken"])
    assert problems == []
    seen = []
    pm.add_hookcall_monitoring(
        lambda name, impls, kwargs: seen.append((name, [i.plugin_name for i in impls])),
        lambda outcome, name, impls, kwargs: None,
    )

    answers, problems = call_each(pm, "labvault_block_types")

    assert [(name, [t.__name__ for t in types]) for name, types in answers] == [
        ("labvault.builtins.block_comment", ["Comment"]),
        ("labvault.builtins.block_media", ["Media"]),
        ("labvault.builtins.block_tabular", ["Tabular"]),
        ("xrd", ["XRDPattern"]),
    ]
    assert problems == ["plugin broken: labvault_block_types() raised KeyError: 'no types'"]
    assert [name for _, [name] in seen] == [
        "labvault.builtins.block_comment",
        "labvault.builtins.block_media",
        "labvault.builtins.block_tabular",
        "xrd",
        "broken",
    ]
    assert {hook for hook, _ in seen} == {"labvault_block_types"}


@pytest.mark.parametrize(
    ("returned", "shown"),
    [
        ("SFTPSource", "<class 'lvtest_wrongtype.SFTPSource'>"),
        ("XRDPattern('xrd', {}, None)", "<lvtest_wrongtype.XRDPattern object"),
        ("'xrd'", "'xrd'"),
    ],
    ids=["other-kind", "instance", "string"],
)
def test_a_hook_returning_no_subclass_of_its_base_is_refused(
    dists, startup_problems, returned, shown
):
    dists.add(
        "wrongtype",
        f"""
        from labvault.plugin import BlockType, FileSource, hookimpl

        class SFTPSource(FileSource):
            name = "sftp"

        class XRDPattern(BlockType):
            name = "xrd"

        @hookimpl
        def labvault_block_types():
            return [{returned}]
        """,
    )

    [problem] = startup_problems(PLUGINS=["wrongtype"])

    assert problem.startswith(f"plugin wrongtype: labvault_block_types returned {shown}")
    assert problem.endswith("which is not a subclass of BlockType")


def test_a_type_without_a_name_is_refused(dists, startup_problems):
    dists.add(
        "nameless",
        """
        from labvault.plugin import BlockType, hookimpl

        class Spectrum(BlockType):
            description = "forgot its name"

        @hookimpl
        def labvault_block_types():
            return [Spectrum]
        """,
    )

    assert startup_problems(PLUGINS=["nameless"]) == [
        "plugin nameless: block type Spectrum has no name"
    ]


# --- type names ----------------------------------------------------------------------


def test_two_types_of_one_kind_with_one_name_stop_startup_naming_both_plugins(
    dists, startup_problems
):
    dists.add("one", XRD)
    dists.add("two", XRD.replace("XRDPattern", "Diffractogram"))

    assert startup_problems(PLUGINS=["one", "two"]) == [
        "block type name 'xrd' is registered twice: by plugin one (XRDPattern) "
        "and by plugin two (Diffractogram)"
    ]


def test_a_plugin_cannot_take_the_name_of_a_builtin_type(dists, startup_problems):
    dists.add("notes", XRD.replace('name = "xrd"', 'name = "comment"'))

    assert startup_problems(PLUGINS=["notes"]) == [
        "block type name 'comment' is registered twice: by plugin "
        "labvault.builtins.block_comment (Comment) and by plugin notes (XRDPattern)"
    ]


def test_one_name_in_two_kinds_is_allowed(dists, make_app):
    dists.add("xrd", XRD)
    dists.add("xrdfiles", SFTP.replace('name = "sftp"', 'name = "xrd"'))

    registry = make_app(PLUGINS=["xrd", "xrdfiles"]).extensions["labvault"].registry

    assert registry.types_of(BLOCK_TYPES)["xrd"].__name__ == "XRDPattern"
    assert registry.types_of(FILE_SOURCES)["xrd"].__name__ == "SFTPSource"


# --- type options --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plugins", "raman", "problem"),
    [
        (
            ["sftp"],
            {"type": "sftp"},
            "FILE_SOURCES.raman.host: Missing data for required field.",
        ),
        (
            ["sftp"],
            {"type": "sftp", "host": "raman.lab", "colour": "red"},
            "FILE_SOURCES.raman.colour: unknown option (file source type 'sftp' takes: host, port)",
        ),
        (
            ["sftp"],
            {"type": "sftp", "host": "raman.lab", "port": 0},
            "FILE_SOURCES.raman.port: Must be greater than or equal to 1 and less than or "
            "equal to 65535.",
        ),
        (
            ["sftp"],
            {"type": "ftp", "host": "raman.lab"},
            "FILE_SOURCES.raman.type: unknown file source type 'ftp'; available types: local, sftp",
        ),
        (
            ["sftp"],
            {"host": "raman.lab"},
            "FILE_SOURCES.raman.type: missing; available types: local, sftp",
        ),
        (
            [],
            {"type": "sftp", "host": "raman.lab"},
            "FILE_SOURCES.raman.type: unknown file source type 'sftp'; available types: local",
        ),
    ],
    ids=["required", "unknown-option", "out-of-range", "unknown-type", "no-type", "no-plugin"],
)
def test_type_options_are_validated_with_their_key_path(
    dists, startup_problems, plugins, raman, problem
):
    dists.add("sftp", SFTP)

    assert startup_problems(PLUGINS=plugins, FILE_SOURCES={"raman": raman}) == [problem]


def test_every_problem_is_reported_at_once(dists, tmp_path):
    dists.add("sftp", SFTP)
    dists.add("broken", RAISES_ON_IMPORT, dist="labvault-broken", version="0.4.0")
    for name, hook in [("typo", "labvault_blok_types"), ("typo2", "labvault_start_up")]:
        dists.add(
            name,
            f"""
            from labvault.plugin import hookimpl

            @hookimpl
            def {hook}():
                return []
            """,
        )

    with pytest.raises(ConfigError) as failure:
        create_app(
            app_settings(
                tmp_path,
                PLUGINS=["sftp", "missing", "broken", "typo", "typo2"],
                FILE_SOURCES={"raman": {"type": "sftp"}, "nas": {"type": "smb"}},
            )
        )

    problems = failure.value.problems
    expected_starts = [
        "PLUGINS: plugin 'missing' is not installed;",
        "plugin broken (distribution labvault-broken 0.4.0) failed to import:",
        "plugin typo (distribution labvault-test-typo 1.0.0): unknown hook 'labvault_blok_types'",
        "plugin typo2 (distribution labvault-test-typo2 1.0.0): unknown hook 'labvault_start_up'",
        "FILE_SOURCES.raman.host: Missing data for required field.",
        "FILE_SOURCES.nas.type: unknown file source type 'smb'; available types: local, sftp",
    ]
    assert len(problems) == len(expected_starts)
    for start in expected_starts:
        assert [p for p in problems if p.startswith(start)], start
    assert failure.value.report().startswith("labvault configuration has 6 problems:\n  - ")


# --- labvault plugins --------------------------------------------------------------


def test_labvault_plugins_lists_name_distribution_version_and_enabled(dists, tmp_path, monkeypatch):
    dists.add("alpha", XRD, dist="labvault-alpha", version="1.2.0")
    beta = dists.add("beta", RAISES_ON_IMPORT, dist="labvault-beta", version="0.3.0")
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path, PLUGINS=["alpha"])

    result = CliRunner().invoke(cli, ["plugins"], env={"LABVAULT_CONFIG": str(config)})

    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines()]
    assert rows[0] == ["name", "distribution", "version", "plugin_api", "enabled"]
    assert ["alpha", "labvault-alpha", "1.2.0", ">=2.0,<3", "yes"] in rows
    assert ["beta", "labvault-beta", "0.3.0", ">=2.0,<3", "no"] in rows
    assert result.output.splitlines()[-1] == "this labvault provides plugin API 2.1"
    assert beta not in sys.modules  # listing reads metadata and source only


def test_labvault_plugins_shows_a_plugin_without_a_range(dists, tmp_path, monkeypatch):
    dists.add("old", XRD, dist="labvault-old", version="0.9.0", api=None)
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path, PLUGINS=[])

    result = CliRunner().invoke(cli, ["plugins"], env={"LABVAULT_CONFIG": str(config)})

    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines()]
    assert ["old", "labvault-old", "0.9.0", "(none)", "no"] in rows


# --- the plugin API range a plugin needs ---------------------------------------------


def test_a_plugin_whose_range_admits_this_plugin_api_loads(dists, make_app):
    dists.add("xrd", XRD, api=">=2.0,<3")
    dists.add("later", XRD.replace('"xrd"', '"xrd2"'), api="~=2.0")

    info = make_app(PLUGINS=["xrd", "later"]).test_client().get("/info").json

    assert info["plugin_api_version"] == "2.1"
    assert {"xrd", "xrd2"} <= {block_type["name"] for block_type in info["block_types"]}


GATE_REFUSALS = [
    (
        ">=3.0,<4",
        "PLUGINS: plugin 'xrd' needs plugin API >=3.0,<4; this labvault provides 2.1",
    ),
    (
        "<2",
        "PLUGINS: plugin 'xrd' needs plugin API <2; this labvault provides 2.1",
    ),
    (
        None,
        "PLUGINS: plugin 'xrd' declares no plugin API range "
        '(e.g. LABVAULT_PLUGIN_API = ">=2.1,<3" in its module); this labvault provides 2.1',
    ),
    (
        "two point oh",
        "PLUGINS: plugin 'xrd' declares plugin API 'two point oh', which is not a version "
        'range (e.g. LABVAULT_PLUGIN_API = ">=2.1,<3"); this labvault provides 2.1',
    ),
    (
        2.0,
        "PLUGINS: plugin 'xrd' declares plugin API 2.0, which is not a version "
        'range (e.g. LABVAULT_PLUGIN_API = ">=2.1,<3"); this labvault provides 2.1',
    ),
]


@pytest.mark.parametrize(
    ("declared", "line"), GATE_REFUSALS, ids=["newer", "older", "none", "garbage", "a-number"]
)
def test_a_plugin_outside_its_plugin_api_range_stops_startup_with_one_line(
    dists, startup_problems, tmp_path, monkeypatch, capsys, declared, line
):
    dists.add("xrd", XRD, api=declared)

    assert startup_problems(PLUGINS=["xrd"]) == [line]

    # `labvault config check` says the same, and fails
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LABVAULT_CONFIG", str(write_config(tmp_path, PLUGINS=["xrd"])))
    with pytest.raises(SystemExit) as exited:
        main(["config", "check"])
    assert exited.value.code == 1
    assert capsys.readouterr().err.splitlines() == [
        "labvault configuration has 1 problem:",
        f"  - {line}",
    ]


def test_a_kind_without_any_type_says_to_enable_a_plugin(startup_problems):
    assert startup_problems(INVENTORY_IMPORTERS={"stores": {"type": "sheet"}}) == [
        "INVENTORY_IMPORTERS.stores.type: unknown inventory importer type 'sheet'; available "
        "types: none (enable the plugin that provides one)"
    ]
