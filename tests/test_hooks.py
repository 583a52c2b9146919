"""One end-to-end test per hookspec, and a test that every hookspec has a test and docs.

Each test installs a real plugin distribution (see plugin_dists.py) that implements the
hook and shows its effect the way a deployer or an API client would notice it.
"""

from __future__ import annotations

import inspect
import io
import json
import re
import sys
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from click.testing import CliRunner
from labvault import hookspecs
from labvault.builtins.block_comment import Comment
from labvault.cli import cli, main
from labvault.errors import ConfigError
from labvault.jobs.service import job_document
from labvault.plugin import InventoryRecord, RemoteEntry, RowProblem
from labvault.registry import (
    BACKUP_TARGETS,
    BLOCK_TYPES,
    FILE_SOURCES,
    INVENTORY_IMPORTERS,
)
from labvault.testing import wait_until

from tests.plugin_dists import write_config

ROOT = Path(__file__).resolve().parents[1]


XRD_BLOCK = """
    from labvault.plugin import BlockType, hookimpl

    class XRDPattern(BlockType):
        name = "xrd"

    @hookimpl
    def labvault_block_types():
        return [XRDPattern]
"""


# --- options ---------------------------------------------------------------------------


BRIDGE_OPTIONS = """
    import marshmallow as ma
    from labvault.plugin import Secret, hookimpl

    class BridgeOptions(ma.Schema):
        class Meta:
            unknown = ma.RAISE

        url = ma.fields.URL(required=True)
        timeout = ma.fields.Float(load_default=10.0, validate=ma.validate.Range(min=0))
        password = Secret(load_default=None)

    @hookimpl
    def labvault_options_schema():
        return BridgeOptions
"""


def test_labvault_options_schema(dists, make_app, startup_problems):
    dists.add("bridge", BRIDGE_OPTIONS)
    dists.add("xrd", XRD_BLOCK)

    app = make_app(PLUGINS=["bridge", "xrd"], PLUGIN_OPTIONS={"bridge": {"url": "http://pc.lab"}})

    hosts = app.extensions["labvault"].plugins.hosts
    assert hosts["bridge"].options == {"url": "http://pc.lab", "timeout": 10.0, "password": None}
    assert hosts["xrd"].options == {}
    assert sorted(
        startup_problems(
            PLUGINS=["bridge", "xrd"],
            PLUGIN_OPTIONS={
                "bridge": {"timeout": -1, "retries": 3},
                "xrd": {"wavelength": 1.54},
                "tape": {"library": "lto-9"},
            },
        )
    ) == [
        "PLUGIN_OPTIONS.bridge.retries: unknown option (plugin 'bridge' takes: password, "
        "timeout, url)",
        "PLUGIN_OPTIONS.bridge.timeout: Must be greater than or equal to 0.",
        "PLUGIN_OPTIONS.bridge.url: Missing data for required field.",
        "PLUGIN_OPTIONS.tape: plugin 'tape' is not enabled (add it to PLUGINS)",
        "PLUGIN_OPTIONS.xrd: plugin 'xrd' takes no options",
    ]


def test_secret_options_come_from_the_environment_and_never_show(
    dists, make_app, startup_problems, monkeypatch
):
    dists.add("bridge", BRIDGE_OPTIONS)
    monkeypatch.setenv("BRIDGE_PASSWORD", "s3cret-from-env")
    monkeypatch.delenv("BRIDGE_UNSET", raising=False)

    def options(password):
        app = make_app(
            PLUGINS=["bridge"],
            PLUGIN_OPTIONS={"bridge": {"url": "http://pc.lab", "password": password}},
        )
        return app.extensions["labvault"].plugins.hosts["bridge"].options

    from_env = options({"env": "BRIDGE_PASSWORD"})
    assert from_env["password"] == "s3cret-from-env"
    assert "s3cret" not in repr(from_env) and "s3cret" not in repr(dict(from_env))
    assert options("written-in-config")["password"] == "written-in-config"
    assert startup_problems(
        PLUGINS=["bridge"],
        PLUGIN_OPTIONS={"bridge": {"url": "http://pc.lab", "password": {"env": "BRIDGE_UNSET"}}},
    ) == ["PLUGIN_OPTIONS.bridge.password: the environment variable BRIDGE_UNSET is not set"]
    assert startup_problems(
        PLUGINS=["bridge"], PLUGIN_OPTIONS={"bridge": {"url": "http://pc.lab", "password": 42}}
    ) == [
        'PLUGIN_OPTIONS.bridge.password: a text, or {"env": "NAME"} to read it from an '
        "environment variable"
    ]


def test_labvault_options_schema_must_return_a_schema_class(dists, startup_problems):
    dists.add(
        "sloppy",
        """
        from labvault.plugin import hookimpl

        @hookimpl
        def labvault_options_schema():
            return {"url": "a string"}
        """,
    )

    assert startup_problems(PLUGINS=["sloppy"]) == [
        "plugin sloppy: labvault_options_schema returned {'url': 'a string'}, "
        "which is not a marshmallow Schema class"
    ]


# --- registration hooks --------------------------------------------------------------


def test_labvault_auth_provider_types(dists, make_app, labvault_make_app, startup_problems):
    dists.add(
        "campus",
        """
        from urllib.parse import urlencode

        import marshmallow as ma
        from labvault.plugin import AuthProvider, Identity, hookimpl

        class CampusOptions(ma.Schema):
            class Meta:
                unknown = ma.RAISE

            authorize_url = ma.fields.URL(required=True)

        class CampusLogin(AuthProvider):
            name = "campus"
            display_name = "Campus SSO"
            OptionsSchema = CampusOptions

            def authorization_url(self, request):
                query = {"state": request.state, "redirect_uri": request.redirect_uri}
                return f"{self.options['authorize_url']}?{urlencode(query)}"

            def identity_from_callback(self, callback):
                # a real provider exchanges the code; this one trusts it, for the test
                return Identity(self.instance_name, callback.params["code"], None)

        @hookimpl
        def labvault_auth_provider_types():
            return [CampusLogin]
        """,
    )
    client = labvault_make_app(
        PLUGINS=["campus"],
        AUTH_PROVIDERS={
            "uni": {"type": "campus", "authorize_url": "https://sso.example.org/authorize"}
        },
    ).test_client()

    assert client.get("/info").json["login_providers"] == [
        {
            "name": "uni",
            "type": "campus",
            "display_name": "Campus SSO",
            "login_url": "/auth/uni/login",
        }
    ]
    login = client.get("/auth/uni/login")
    assert login.status_code == 302
    authorize, query = login.headers["Location"].split("?")
    assert authorize == "https://sso.example.org/authorize"
    state = parse_qs(query)["state"][0]
    signed_in = client.get(
        f"/auth/uni/callback?state={state}&code=ada", headers={"Accept": "application/json"}
    )
    assert signed_in.status_code == 200, signed_in.json
    me = client.get(
        "/users/me", headers={"Authorization": f"Bearer {signed_in.json['access_token']}"}
    )
    assert (me.json["display_name"], me.json["status"]) == ("uni user", "unverified")

    # a registered type without an instance offers no login and serves nothing
    client = make_app(PLUGINS=["campus"]).test_client()
    assert client.get("/info").json["login_providers"] == []
    assert client.get("/auth/uni/login").status_code == 404

    assert startup_problems(
        PLUGINS=["campus"], AUTH_PROVIDERS={"uni": {"type": "campus", "authorize_url": "x"}}
    ) == ["AUTH_PROVIDERS.uni.authorize_url: Not a valid URL."]


def test_labvault_block_types(dists, make_app, startup_problems):
    dists.add(
        "xrd",
        """
        import marshmallow as ma
        from labvault.plugin import BlockType, hookimpl

        class XRDOptions(ma.Schema):
            class Meta:
                unknown = ma.RAISE

            wavelength = ma.fields.Float(
                load_default=1.5406, validate=ma.validate.Range(min=0, min_inclusive=False)
            )

        class XRDPattern(BlockType):
            name = "xrd"
            description = "X-ray diffraction pattern"
            version = "2"
            accepted_file_extensions = (".xy", ".xrdml")
            OptionsSchema = XRDOptions

        @hookimpl
        def labvault_block_types():
            return [XRDPattern]
        """,
    )

    app = make_app(PLUGINS=["xrd"], BLOCK_TYPES={"xrd": {"wavelength": 0.7093}})

    block_types = app.test_client().get("/info").json["block_types"]
    assert {"name": "xrd", "description": "X-ray diffraction pattern", "version": "2"} in (
        block_types
    )
    xrd = app.extensions["labvault"].registry.instances_of(BLOCK_TYPES)["xrd"]
    assert xrd.options == {"wavelength": 0.7093}
    # without options every registered type is still available, with its defaults
    default = make_app(PLUGINS=["xrd"]).extensions["labvault"].registry
    assert default.instances_of(BLOCK_TYPES)["xrd"].options == {"wavelength": 1.5406}

    assert startup_problems(PLUGINS=["xrd"], BLOCK_TYPES={"xrd": {"wavelength": -1}}) == [
        "BLOCK_TYPES.xrd.wavelength: Must be greater than 0."
    ]
    assert startup_problems(BLOCK_TYPES={"xrd": {}}) == [
        "BLOCK_TYPES.xrd: unknown block type 'xrd'; available types: comment, media, tabular"
    ]


def test_the_builtin_comment_block_type_needs_no_plugin(make_app, startup_problems):
    app = make_app()

    info = app.test_client().get("/info").json
    assert info["plugins"] == []
    assert {"name": "comment", "description": "Free text notes.", "version": "1"} in (
        info["block_types"]
    )
    # registered through labvault_block_types like any plugin's type
    registry = app.extensions["labvault"].registry
    assert registry.types_of(BLOCK_TYPES)["comment"] is Comment
    assert registry.owners[Comment] == "labvault.builtins.block_comment"
    assert startup_problems(BLOCK_TYPES={"comment": {"markdown": True}}) == [
        "BLOCK_TYPES.comment.markdown: unknown option (block type 'comment' takes: remote_images)"
    ]
    assert startup_problems(BLOCK_TYPES={"comment": {"remote_images": "sometimes"}}) == [
        "BLOCK_TYPES.comment.remote_images: Not a valid boolean."
    ]


CYCLING_TYPE = """
    import marshmallow as ma
    from labvault.plugin import ItemReference, ItemType, Quantity, hookimpl

    class CyclingFields(ma.Schema):
        cell = ItemReference(allow_none=True)
        c_rate = Quantity("C", minimum=0)

    class CyclingRun(ItemType):
        name = "cycling_run"
        FieldsSchema = CyclingFields
        statuses = ("queued", "running", "finished")
        filterable = ("c_rate",)
        derived_links = {"cell": "cycling"}

    @hookimpl
    def labvault_item_types(host):
        host.logger.info("cycling runs for %s", host.plugin_name)
        return [CyclingRun]
"""


def test_labvault_item_types(dists, labvault_make_app, labvault_make_user, startup_problems):
    dists.add("cycling", CYCLING_TYPE)

    app = labvault_make_app(PLUGINS=["cycling"])

    client, user = app.test_client(), labvault_make_user(app)
    cell = client.post("/items", json={"type": "cell", "name": "coin cell"}, headers=user.headers)
    run = client.post(
        "/items",
        json={"type": "cycling_run", "cell": cell.json["refcode"], "c_rate": 0.5},
        headers=user.headers,
    )
    assert run.status_code == 201, run.json
    assert (run.json["status"], run.json["c_rate"]) == ("queued", 0.5)
    listed = client.get("/items?type=cycling_run&field.c_rate.lt=1", headers=user.headers)
    assert [item["refcode"] for item in listed.json] == [run.json["refcode"]]
    # a name taken twice, or a declaration its fields do not back, stops startup
    dists.add("cycling_copy", CYCLING_TYPE)
    assert startup_problems(PLUGINS=["cycling", "cycling_copy"]) == [
        "item type name 'cycling_run' is registered twice: by plugin cycling (CyclingRun) "
        "and by plugin cycling_copy (CyclingRun)"
    ]
    dists.add("sloppy", CYCLING_TYPE.replace('("c_rate",)', '("c_rate", "voltage")'))
    assert startup_problems(PLUGINS=["sloppy"]) == [
        "plugin sloppy: item type 'cycling_run': filterable names fields it does not have: voltage"
    ]
    dists.add("clash", CYCLING_TYPE.replace('name = "cycling_run"', 'name = "sample"'))
    assert startup_problems(PLUGINS=["clash"]) == [
        "item type name 'sample' is registered twice: by plugin labvault.builtins.item_sample "
        "(Sample) and by plugin clash (CyclingRun)"
    ]


def test_labvault_file_source_types(dists, make_app, startup_problems):
    dists.add(
        "sftp",
        """
        import marshmallow as ma
        from labvault.plugin import FileSource, RemoteEntry, hookimpl

        class SFTPOptions(ma.Schema):
            class Meta:
                unknown = ma.RAISE

            host = ma.fields.String(required=True)
            port = ma.fields.Integer(load_default=22)

        class SFTPSource(FileSource):
            name = "sftp"
            OptionsSchema = SFTPOptions

            def list(self, path):
                return [RemoteEntry(f"{self.options['host']}/{path}", is_dir=True)]

        @hookimpl
        def labvault_file_source_types():
            return [SFTPSource]
        """,
    )

    app = make_app(
        PLUGINS=["sftp"],
        FILE_SOURCES={
            "raman": {"type": "sftp", "host": "raman.lab"},
            "xrd-pc": {"type": "sftp", "host": "xrd.lab", "port": 2222},
        },
    )

    sources = app.extensions["labvault"].registry.instances_of(FILE_SOURCES)
    assert {name: source.options for name, source in sources.items()} == {
        "raman": {"host": "raman.lab", "port": 22},
        "xrd-pc": {"host": "xrd.lab", "port": 2222},
    }
    assert sources["raman"].list("spectra") == [RemoteEntry("raman.lab/spectra", is_dir=True)]
    assert startup_problems(
        PLUGINS=["sftp"], FILE_SOURCES={"raman": {"type": "sftp", "port": "ssh"}}
    ) == [
        "FILE_SOURCES.raman.host: Missing data for required field.",
        "FILE_SOURCES.raman.port: Not a valid integer.",
    ]


def test_labvault_inventory_importer_types(dists, make_app, startup_problems):
    dists.add(
        "sheet",
        """
        import marshmallow as ma
        from labvault.plugin import InventoryImporter, InventoryRecord, RowProblem, hookimpl

        class SheetOptions(ma.Schema):
            class Meta:
                unknown = ma.RAISE

            url = ma.fields.URL(required=True)

        class SpreadsheetInventory(InventoryImporter):
            name = "spreadsheet"
            OptionsSchema = SheetOptions
            accepted_file_extensions = (".csv",)

            def read(self, stream, filename):
                for row, line in enumerate(stream.read().decode().splitlines()[1:], start=2):
                    barcode, name = line.split(",")
                    if not barcode:
                        yield RowProblem(row, "Barcode", "no barcode")
                        continue
                    attributes = {"Source": self.options["url"]}
                    yield InventoryRecord(barcode, {"name": name}, attributes, row)

        @hookimpl
        def labvault_inventory_importer_types():
            return [SpreadsheetInventory]
        """,
    )

    app = make_app(
        PLUGINS=["sheet"],
        INVENTORY_IMPORTERS={
            "chemicals": {"type": "spreadsheet", "url": "https://inventory.example.org/x.csv"}
        },
    )

    importers = app.extensions["labvault"].registry.instances_of(INVENTORY_IMPORTERS)
    assert list(importers) == ["chemicals"]
    export = io.BytesIO(b"Barcode,Name\nCH-0001,acetone\n,water\n")
    assert list(importers["chemicals"].read(export, "x.csv")) == [
        InventoryRecord(
            "CH-0001", {"name": "acetone"}, {"Source": "https://inventory.example.org/x.csv"}, 2
        ),
        RowProblem(3, "Barcode", "no barcode"),
    ]
    assert startup_problems(
        PLUGINS=["sheet"], INVENTORY_IMPORTERS={"chemicals": {"type": "spreadsheet"}}
    ) == ["INVENTORY_IMPORTERS.chemicals.url: Missing data for required field."]


def test_labvault_backup_target_types(dists, make_app, startup_problems):
    dists.add(
        "tape",
        """
        import marshmallow as ma
        from labvault.plugin import BackupTarget, hookimpl

        class TapeOptions(ma.Schema):
            class Meta:
                unknown = ma.RAISE

            drives = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1))
            library = ma.fields.String(load_default="lto-9")

        class TapeLibrary(BackupTarget):
            name = "tape"
            OptionsSchema = TapeOptions

            def list(self, prefix=""):
                return iter([f"{self.options['library']}/{prefix}"])

        @hookimpl
        def labvault_backup_target_types():
            return [TapeLibrary]
        """,
    )

    def strategy(**target):
        return {"daily": {"target": target, "frequency": "1d", "retention": 7}}

    app = make_app(PLUGINS=["tape"], BACKUP_STRATEGIES=strategy(type="tape", drives=2))

    daily = app.extensions["labvault"].registry.instances_of(BACKUP_TARGETS)["daily"]
    assert type(daily).__name__ == "TapeLibrary"
    assert daily.instance_name == "daily"
    assert daily.options == {"drives": 2, "library": "lto-9"}
    assert list(daily.list("snapshots/")) == ["lto-9/snapshots/"]
    assert startup_problems(
        PLUGINS=["tape"], BACKUP_STRATEGIES=strategy(type="tape", drives=0)
    ) == ["BACKUP_STRATEGIES.daily.target.drives: Must be greater than or equal to 1."]
    assert startup_problems(
        PLUGINS=["tape"], BACKUP_STRATEGIES=strategy(type="tapes", drives=1)
    ) == [
        "BACKUP_STRATEGIES.daily.target.type: unknown backup target type 'tapes'; "
        "available types: local, tape"
    ]


# --- jobs ---------------------------------------------------------------------------------


REINDEX_JOBS = """
    from labvault.plugin import Invalid, JobType, Unavailable, hookimpl

    class Reindex(JobType):
        name = "instrument_reindex"
        max_attempts = 3
        retry_delay = 0.05

        def run(self, job):
            if job.payload.get("invalid"):
                raise Invalid("no such instrument")
            if job.attempt == 1:
                raise Unavailable("the instrument PC did not answer")
            return {"instrument": job.payload["instrument"], "attempt": job.attempt}

    @hookimpl
    def labvault_job_types(host):
        assert host.plugin_name == "instruments"
        return [Reindex]
"""


def test_labvault_job_types(dists, labvault_make_app, labvault_make_user, startup_problems):
    dists.add("instruments", REINDEX_JOBS)
    app = labvault_make_app(PLUGINS=["instruments"])
    client, admin = app.test_client(), labvault_make_user(app, role="admin")
    jobs = app.extensions["labvault"].plugins.hosts["instruments"].jobs

    job_id = jobs.enqueue("instrument_reindex", {"instrument": "xrd-1"}, key="xrd-1")
    # one unfinished job per key: asking again while it waits for its retry is that job
    assert jobs.enqueue("instrument_reindex", {"instrument": "xrd-1"}, key="xrd-1") == job_id

    def finished(job_id):
        job = client.get(f"/jobs/{job_id}", headers=admin.headers).json
        return job["state"] in ("succeeded", "failed") and job

    job = wait_until(lambda: finished(job_id), 30)
    assert job["state"] == "succeeded" and job["attempts"] == 2
    assert job["result"] == {"instrument": "xrd-1", "attempt": 2}
    assert job["error"] is None  # the first attempt's is gone with its success
    # a finished job's key is free again; an Invalid fails the job without retrying
    again = jobs.enqueue("instrument_reindex", {"invalid": True}, key="xrd-1")
    assert again != job_id
    job = wait_until(lambda: finished(again), 30)
    assert (job["state"], job["attempts"], job["error"]) == ("failed", 1, "no such instrument")

    dists.add(
        "clash",
        """
        from labvault.plugin import JobType, hookimpl

        class MyBackup(JobType):
            name = "backup"

        @hookimpl
        def labvault_job_types():
            return [MyBackup]
        """,
    )
    assert startup_problems(PLUGINS=["clash"]) == [
        "job type name 'backup' of plugin clash is the core's own"
    ]


def test_labvault_job_runner_types(dists, labvault_make_app, startup_problems):
    dists.add("instruments", REINDEX_JOBS)
    dists.add(
        "inline",
        """
        import marshmallow as ma
        from labvault.plugin import JobRunner, hookimpl

        class InlineOptions(ma.Schema):
            class Meta:
                unknown = ma.RAISE

            rounds = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1))

        class Inline(JobRunner):
            name = "inline"
            OptionsSchema = InlineOptions

            def submit(self, job_id):  # runs each job at once, its retries as well
                for _ in range(self.options["rounds"]):
                    for due in self.host.jobs.due():
                        self.host.jobs.run(due)

        @hookimpl
        def labvault_job_runner_types():
            return [Inline]
        """,
    )
    app = labvault_make_app(PLUGINS=["instruments", "inline"], JOBS={"type": "inline"})
    state = app.extensions["labvault"]
    assert type(state.jobs.runner).__name__ == "Inline"
    assert state.jobs.runner.instance_name == "default"
    job_id = state.jobs.enqueue("instrument_reindex", {"instrument": "xrd-1"})
    with state.database.sessionmaker() as session:
        job = job_document(session, job_id, user_id=0, admin=True)
    # the runner ran its first attempt; the retry waits for its delay
    assert (job["state"], job["attempts"]) == ("queued", 1)

    enabled = ["instruments", "inline"]
    assert startup_problems(PLUGINS=enabled, JOBS={"type": "inline", "rounds": 0}) == [
        "JOBS.rounds: Must be greater than or equal to 1."
    ]
    assert startup_problems(PLUGINS=enabled, JOBS={"type": "celery"}) == [
        "JOBS.type: unknown job runner type 'celery'; available types: embedded, inline"
    ]
    assert startup_problems(PLUGINS=enabled, JOBS={"type": "embedded", "threads": 0}) == [
        "JOBS.threads: Must be greater than or equal to 1 and less than or equal to 64."
    ]


# --- file stores ------------------------------------------------------------------------


MEMORY_STORE = """
    import hashlib
    import io
    import time

    import marshmallow as ma
    from labvault.plugin import (
        ContentInfo, ContentMissing, ContentWriter, FileStore, StoredContent, hookimpl,
    )

    class MemoryOptions(ma.Schema):
        class Meta:
            unknown = ma.RAISE

        label = ma.fields.String(required=True)

    class Spool(ContentWriter):  # not readable back, as an upload to an object store
        def __init__(self, store):
            self.store, self.data, self._closed = store, bytearray(), False

        def write(self, data):
            self.data += data
            return len(data)

        size = property(lambda self: len(self.data))
        closed = property(lambda self: self._closed)

        def discard(self):
            self._closed = True

    class Memory(FileStore):
        name = "memory"
        OptionsSchema = MemoryOptions
        contents = {}
        ranges = []

        def writer(self):
            return Spool(self)

        def keep(self, writer):
            data = bytes(writer.data)
            writer.discard()
            sha256 = hashlib.sha256(data).hexdigest()
            self.contents[sha256] = (data, time.time())
            return StoredContent(sha256, len(data))

        def open(self, sha256, start=0, end=None):
            if sha256 not in self.contents:
                raise ContentMissing(sha256)
            self.ranges.append((start, end))
            return io.BytesIO(self.contents[sha256][0][start:end])

        def stat(self, sha256):
            if sha256 not in self.contents:
                return None
            data, modified = self.contents[sha256]
            return ContentInfo(sha256, len(data), modified)

        def delete(self, sha256, unless_modified_after=None):
            return self.contents.pop(sha256, None) is not None

        def list(self):
            return iter([self.stat(sha256) for sha256 in sorted(self.contents)])

    @hookimpl
    def labvault_file_store_types():
        return [Memory]
"""


def test_labvault_file_store_types(dists, labvault_make_app, labvault_make_user, startup_problems):
    dists.add("memory", MEMORY_STORE)
    app = labvault_make_app(PLUGINS=["memory"], FILE_STORE={"type": "memory", "label": "ram"})
    store = app.extensions["labvault"].registry.file_store()
    assert (type(store).__name__, store.options) == ("Memory", {"label": "ram"})
    client, user = app.test_client(), labvault_make_user(app)
    refcode = client.post(
        "/items", json={"type": "sample", "name": "s"}, headers=user.headers
    ).json["refcode"]

    # an upload goes into the store's writer; a download asks the store for its range
    uploaded = client.post(
        f"/items/{refcode}/files",
        data={"file": (io.BytesIO(b"0123456789"), "digits.txt")},
        headers=user.headers,
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 201, uploaded.json
    assert list(store.contents) == [uploaded.json["sha256"]]
    store.ranges.clear()
    content = client.get(
        f"/files/{uploaded.json['id']}/content", headers={**user.headers, "Range": "bytes=2-4"}
    )
    assert (content.status_code, content.data) == (206, b"234")
    assert store.ranges == [(2, 5)]
    assert startup_problems(PLUGINS=["memory"], FILE_STORE={"type": "memory"}) == [
        "FILE_STORE.label: Missing data for required field."
    ]
    assert startup_problems(PLUGINS=["memory"], FILE_STORE={"type": "disk"}) == [
        "FILE_STORE.type: unknown file store type 'disk'; available types: local, memory"
    ]


# --- lifecycle hooks -----------------------------------------------------------------


def test_labvault_blueprints(dists, make_app):
    dists.add(
        "instruments",
        """
        import marshmallow as ma
        from labvault.plugin import Blueprint, hookimpl

        blp = Blueprint(
            "instruments", __name__, url_prefix="/instruments", description="Lab instruments"
        )

        class InstrumentSchema(ma.Schema):
            name = ma.fields.String()

        @blp.route("/")
        @blp.response(200, InstrumentSchema(many=True))
        def list_instruments():
            \"\"\"List the lab's instruments\"\"\"
            return [{"name": "XRD-1"}]

        @blp.route("/", methods=["POST"])
        @blp.arguments(InstrumentSchema)
        @blp.response(201, InstrumentSchema)
        def add_instrument(instrument):
            \"\"\"Add an instrument\"\"\"
            return instrument

        @hookimpl
        def labvault_blueprints():
            return [blp]
        """,
    )
    client = make_app(PLUGINS=["instruments"]).test_client()

    response = client.get("/instruments/")
    assert response.status_code == 200
    assert response.json == [{"name": "XRD-1"}]
    added = client.post("/instruments/", json={"name": "SEM"})
    assert (added.status_code, added.json) == (201, {"name": "SEM"})
    # the plugin's requests pass the same gate as the core's
    surrogate = client.post(
        "/instruments/", data='{"name": "\\udc00"}', content_type="application/json"
    )
    assert surrogate.status_code == 400 and "surrogate" in surrogate.json["message"]
    assert client.post("/instruments/", data="name=SEM").status_code == 415
    spec = client.get("/openapi.json").json
    operation = spec["paths"]["/instruments/"]["get"]
    assert operation["summary"] == "List the lab's instruments"
    assert operation["tags"] == ["instruments"]
    assert "Instrument" in spec["components"]["schemas"]


def test_labvault_interchange_formats(
    dists, labvault_make_app, labvault_make_user, startup_problems, tmp_path
):
    dists.add(
        "lines",
        """
        import json

        import marshmallow as ma
        from labvault.plugin import Imported, ImportedRecord, InterchangeFormat, Invalid, hookimpl

        class LinesOptions(ma.Schema):
            class Meta:
                unknown = ma.RAISE

            max_items = ma.fields.Integer(load_default=100)

        class JSONLines(InterchangeFormat):
            name = "jsonl"
            display_name = "JSON Lines"
            description = "One item a line, as the API shows it"
            file_extension = ".jsonl"
            media_type = "application/jsonl"
            OptionsSchema = LinesOptions

            def write(self, export):
                if len(export.refcodes) > self.options["max_items"]:
                    raise Invalid(f"at most {self.options['max_items']} items a file")
                header = {"title": export.title, "people": sorted(export.people)}
                yield json.dumps(header).encode() + b"\\n"
                for item in export.items:
                    line = {"document": item.document, "links": [l.refcode for l in item.links]}
                    yield json.dumps(line).encode() + b"\\n"

            def read(self, archive):
                (name,) = archive.names()
                header, *lines = archive.read(name, max_size=1 << 20).splitlines()
                return Imported(
                    exporter="lines",
                    records=tuple(
                        ImportedRecord(
                            key=line["document"]["refcode"],
                            name=line["document"]["name"] + " (imported)",
                            type=line["document"]["type"],
                        )
                        for line in map(json.loads, lines)
                    ),
                )

        @hookimpl
        def labvault_interchange_formats():
            return [JSONLines]
        """,
    )

    settings = {"PLUGINS": ["lines"], "INTERCHANGE_FORMATS": {"jsonl": {"max_items": 2}}}
    app = labvault_make_app(**settings)
    client = app.test_client()
    alice = labvault_make_user(app)
    made = [
        client.post(
            "/items", json={"type": "sample", "name": f"film {n}"}, headers=alice.headers
        ).json
        for n in range(2)
    ]
    parents = [{"refcode": each["refcode"], "relation": "parent"} for each in made]
    child = client.post(
        "/items",
        json={"type": "sample", "name": "child", "relationships": parents},
        headers=alice.headers,
    ).json

    assert {
        "name": "jsonl",
        "display_name": "JSON Lines",
        "description": "One item a line, as the API shows it",
        "file_extension": ".jsonl",
        "media_type": "application/jsonl",
    } in client.get("/info").json["export_formats"]
    first = made[0]["refcode"]
    response = client.get(f"/items/{first}/export.jsonl?depth=1", headers=alice.headers)
    assert response.status_code == 200
    assert response.mimetype == "application/jsonl"
    header, *lines = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert header == {"title": "film 0", "people": [f"user-{alice.id}"]}
    shown = {
        r: client.get(f"/items/{r}", headers=alice.headers).json for r in (first, child["refcode"])
    }
    without_version = {r: {k: v for k, v in d.items() if k != "version"} for r, d in shown.items()}
    assert lines == [
        {"document": without_version[first], "links": []},
        {"document": without_version[child["refcode"]], "links": [e["refcode"] for e in made]},
    ]
    # and read back (a file that is no zip archive is one of one part): two new items
    imported = client.post(
        "/imports",
        data={"file": (io.BytesIO(response.data), "two.jsonl")},
        headers=alice.headers,
        content_type="multipart/form-data",
    )
    assert imported.status_code == 201, imported.get_data(as_text=True)
    assert [(i["name"], i["state"]) for i in imported.json["items"]] == [
        ("film 0 (imported)", "created"),
        ("child (imported)", "created"),
    ]
    # a format's refusal before its first byte is an error answer, not a broken download
    refused = client.get(f"/items/{child['refcode']}/export.jsonl?depth=1", headers=alice.headers)
    assert (refused.status_code, refused.json["message"]) == (422, "at most 2 items a file")

    database = app.extensions["labvault"].settings["DATABASE_URL"]
    config = write_config(tmp_path, DATABASE_URL=database, **settings)
    runner = CliRunner(env={"LABVAULT_CONFIG": str(config)})
    output = tmp_path / "all.jsonl"
    command = ["export", "--user", alice.email, "--format", "jsonl", "-o", str(output)]
    # (main() prints a LabvaultError as "error: <message>" and exits 1)
    unknown = runner.invoke(cli, [*command, "--collection", "none-such"])
    assert str(unknown.exception) == "no collection 'none-such'"
    refused = runner.invoke(cli, [*command, "--all"])
    assert str(refused.exception) == "at most 2 items a file"
    assert not (tmp_path / "all.jsonl").exists() and not list(tmp_path.glob(".all.jsonl.*"))

    assert startup_problems(
        PLUGINS=["lines"], INTERCHANGE_FORMATS={"jsonl": {"max_items": "x"}}
    ) == ["INTERCHANGE_FORMATS.jsonl.max_items: Not a valid integer."]
    assert startup_problems(INTERCHANGE_FORMATS={"jsonl": {}}) == [
        "INTERCHANGE_FORMATS.jsonl: unknown interchange format 'jsonl'; "
        "available types: none (enable the plugin that provides one)"
    ]


def test_labvault_cli_commands(dists, tmp_path, monkeypatch):
    greeter = """
        import click
        from flask import current_app
        from labvault.plugin import hookimpl

        @click.command("COMMAND", help="Say hello from the lab.")
        @click.option("--name", default="world")
        def greet(name):
            prefix = current_app.extensions["labvault"].settings["IDENTIFIER_PREFIX"]
            click.echo(f"hello {name} from {prefix}")

        @hookimpl
        def labvault_cli_commands():
            return [greet]
    """
    dists.add("greeter", greeter.replace("COMMAND", "greet-lab"))
    dists.add("quiet", greeter.replace("COMMAND", "not-enabled"))
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path, IDENTIFIER_PREFIX="lab", PLUGINS=["greeter"])
    runner = CliRunner(env={"LABVAULT_CONFIG": str(config)})

    usage = runner.invoke(cli, ["--help"])
    assert usage.exit_code == 0, usage.output
    assert re.search(r"^\s+greet-lab\s+Say hello from the lab\.$", usage.output, re.MULTILINE)
    assert "not-enabled" not in usage.output

    greeting = runner.invoke(cli, ["greet-lab", "--name", "ada"])
    assert greeting.exit_code == 0, greeting.output
    assert greeting.output == "hello ada from lab\n"  # current_app works: an app context


def test_labvault_startup(dists, make_app):
    dists.add("xrd", XRD_BLOCK)
    bridge = dists.add(
        "bridge",
        """
        from labvault.plugin import hookimpl
        from labvault.registry import BLOCK_TYPES

        calls = []

        @hookimpl
        def labvault_startup(app):
            block_types = app.extensions["labvault"].registry.types_of(BLOCK_TYPES)
            calls.append((app, sorted(block_types)))
        """,
    )

    app = make_app(PLUGINS=["bridge", "xrd"])

    # once, with the app, after every enabled plugin's types are registered
    assert sys.modules[bridge].calls == [(app, ["comment", "media", "tabular", "xrd"])]


@pytest.mark.parametrize(
    ("raised", "reported"),
    [
        (
            'RuntimeError("bridge unreachable")',
            "plugin bridge: labvault_startup() raised RuntimeError: bridge unreachable",
        ),
        # a ConfigError's own problems are passed through, one line each
        ('ConfigError(["BRIDGE_URL: not set"])', "plugin bridge: BRIDGE_URL: not set"),
    ],
)
def test_labvault_startup_raising_stops_startup_naming_the_plugin(
    dists, startup_problems, raised, reported
):
    dists.add(
        "bridge",
        f"""
        from labvault.plugin import ConfigError, hookimpl

        @hookimpl
        def labvault_startup(app):
            raise {raised}
        """,
    )

    assert startup_problems(PLUGINS=["bridge"]) == [reported]


# --- every hookspec is tested and documented -------------------------------------


def hookspec_functions(module):
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return {
        name: function
        for name, function in vars(module).items()
        if inspect.isfunction(function) and hasattr(function, marker)
    }


def undocumented_or_untested(specs, readme, test_sources):
    """Why each hookspec falls short: no example, no return contract, no docs, no test."""
    problems = []
    for name, function in sorted(specs.items()):
        doc = inspect.getdoc(function) or ""
        if "Example" not in doc:
            problems.append(f"{name}: docstring has no Example")
        if not re.search(r"\bReturns?\b", doc):
            problems.append(f"{name}: docstring does not say what to return")
        if name not in readme:
            problems.append(f"{name}: not mentioned in README.md")
        if not any(re.search(rf"\b{name}\b", source) for source in test_sources):
            problems.append(f"{name}: no test mentions it")
    return problems


def test_every_hookspec_has_a_test_and_documentation():
    specs = hookspec_functions(hookspecs)
    assert len(specs) >= 8
    this_file = Path(__file__).read_text()
    for checker in (hookspec_functions, undocumented_or_untested, inspect.currentframe()):
        source = inspect.getsource(checker)
        assert source in this_file
        this_file = this_file.replace(source, "")  # the check itself is no test of a hook
    test_sources = [
        this_file if path.name == Path(__file__).name else path.read_text()
        for path in sorted((ROOT / "tests").glob("test_*.py"))
    ]

    assert undocumented_or_untested(specs, (ROOT / "README.md").read_text(), test_sources) == []


def test_the_hookspec_check_fails_for_an_undocumented_untested_hook():
    @hookspecs.hookspec
    def labvault_fake_hook():
        """Called now and then."""

    assert undocumented_or_untested({"labvault_fake_hook": labvault_fake_hook}, "", []) == [
        "labvault_fake_hook: docstring has no Example",
        "labvault_fake_hook: docstring does not say what to return",
        "labvault_fake_hook: not mentioned in README.md",
        "labvault_fake_hook: no test mentions it",
    ]


def test_a_blueprint_clash_is_a_startup_problem_naming_the_plugin(dists, startup_problems):
    dists.add(
        "clash",
        """
        from flask_smorest import Blueprint
        from labvault.plugin import hookimpl

        blp = Blueprint("users", __name__, url_prefix="/more-users")

        @hookimpl
        def labvault_blueprints():
            return [blp]
        """,
    )
    (problem,) = startup_problems(PLUGINS=["clash"])
    assert problem.startswith("plugin clash: blueprint 'users' cannot be registered")


def test_one_module_enabled_under_two_names_is_a_startup_problem(dists, startup_problems):
    source = """
        from labvault.plugin import hookimpl

        @hookimpl
        def labvault_startup(app):
            pass
        """
    dists.add("first", source, dist="labvault-first", module="lvtest_shared")
    dists.add("second", None, dist="labvault-second", module="lvtest_shared")
    (problem,) = startup_problems(PLUGINS=["first", "second"])
    assert problem == (
        "plugin second (distribution labvault-second 1.0.0): its module is already enabled as first"
    )


def test_config_check_reports_what_startup_would(dists, tmp_path):
    dists.add(
        "bridge",
        """
        from labvault.plugin import ConfigError, hookimpl

        @hookimpl
        def labvault_startup(app):
            raise ConfigError(["BRIDGE_URL: not set"])
        """,
    )
    config = write_config(tmp_path, IDENTIFIER_PREFIX="lab", PLUGINS=["bridge"])
    result = CliRunner().invoke(cli, ["config", "check"], env={"LABVAULT_CONFIG": str(config)})
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError)
    assert result.exception.problems == ["plugin bridge: BRIDGE_URL: not set"]


def test_a_config_error_takes_one_problem_as_text_or_a_list(dists, tmp_path, monkeypatch, capsys):
    dists.add(
        "bridge",
        """
        from labvault.plugin import ConfigError, hookimpl

        @hookimpl
        def labvault_startup(app):
            raise ConfigError("BRIDGE_URL: not set")
        """,
    )
    dists.add(
        "gauge",
        """
        from labvault.plugin import ConfigError, hookimpl

        @hookimpl
        def labvault_startup(app):
            raise ConfigError(["GAUGE_PORT: not a port", "GAUGE_UNIT: not a unit"])
        """,
    )
    config = write_config(tmp_path, IDENTIFIER_PREFIX="lab", PLUGINS=["bridge", "gauge"])
    monkeypatch.setenv("LABVAULT_CONFIG", str(config))

    with pytest.raises(SystemExit) as exited:
        main(["config", "check"])

    assert exited.value.code == 1
    assert capsys.readouterr().err.splitlines() == [
        "labvault configuration has 3 problems:",
        "  - plugin bridge: BRIDGE_URL: not set",
        "  - plugin gauge: GAUGE_PORT: not a port",
        "  - plugin gauge: GAUGE_UNIT: not a unit",
    ]
