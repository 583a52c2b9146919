"""Every hook a labvault plugin can implement.

A plugin is a Python module (named by an entry point in the ``labvault.plugins`` group)
with functions decorated by :data:`labvault.plugin.hookimpl` whose names match the specs
below. A misspelled hook name or argument stops startup. The core's own features are
registered through these same hooks (see ``labvault/builtins/``).

Hooks are called through pluggy, one plugin at a time, so an implementation may take any
subset of its spec's arguments (or none), and a failure is reported with the plugin's
name. Hook wrappers are refused: labvault takes each plugin's own answer.

Hooks with a ``host`` argument give each plugin its own :class:`labvault.plugin.Host`:
its settings and options, a database session, the file store, ``sign_in``, a way to
record a version of an item, and a logger named after the plugin. The instances of its
types hold the same host as ``self.host``.

A plugin provides *types* of ten *kinds* (auth providers, block types, item types,
file sources, inventory importers, backup targets, interchange formats, file stores,
job types, job runners), one registration
hook per kind, each named after
the types it returns (``labvault_auth_provider_types``, ``labvault_block_types``, ...).
The deployer configures named *instances* of a type, each with its *options* (validated
with the type's ``OptionsSchema``). Every enabled plugin's answers are collected, and
two types of one kind with the same ``name`` stop startup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labvault.plugin._markers import PROJECT_NAME, hookimpl, hookspec

if TYPE_CHECKING:
    import click
    import marshmallow as ma
    from flask import Flask

    from labvault.plugin import (
        AuthProvider,
        BackupTarget,
        BlockType,
        FileSource,
        FileStore,
        Host,
        InterchangeFormat,
        InventoryImporter,
        ItemType,
        JobRunner,
        JobType,
    )

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec"]


@hookspec
def labvault_options_schema() -> type[ma.Schema] | None:
    """Return the marshmallow schema of the options this plugin takes, or None.

    Called once at startup, before any other hook. The deployer sets the options in
    ``PLUGIN_OPTIONS = {"<plugin name>": {...}}``; they are validated with the rest of the
    settings (problems are reported by key path, ``PLUGIN_OPTIONS.bridge.url: ...``) and
    reach the plugin as ``host.options``. A plugin that implements no schema takes none.
    Declare every secret with :class:`labvault.plugin.Secret` (nested schemas too): a
    backup's copy of the config hides what the schema declares secret.

    Example::

        class BridgeOptions(ma.Schema):
            url = ma.fields.URL(required=True)
            api_key = Secret(required=True)  # or {"env": "BRIDGE_API_KEY"}
            timeout = ma.fields.Float(load_default=10.0)

        @hookimpl
        def labvault_options_schema():
            return BridgeOptions
    """


@hookspec
def labvault_auth_provider_types() -> list[type[AuthProvider]]:  # type: ignore[empty-body]
    """Return the auth provider types this plugin provides: ways to sign in.

    Called once at startup. Each type needs a unique ``name``; the deployer creates
    instances in ``AUTH_PROVIDERS`` with ``"type": name`` and the options of the type's
    ``OptionsSchema``. Enabled instances are listed in ``GET /auth/providers`` and
    ``GET /info``. A provider only proves who someone is; accounts, registration rules
    (its :meth:`~labvault.plugin.AuthProvider.allow_list`), sessions and tokens are the
    core's. A redirect provider implements ``authorization_url`` and
    ``identity_from_callback``, and the core serves ``/auth/<instance>/login`` and
    ``/auth/<instance>/callback`` for it, keeping the state, nonce and PKCE verifier.

    Example::

        class GitLabLogin(AuthProvider):
            name = "gitlab"
            display_name = "GitLab"
            OptionsSchema = GitLabOptions

            def authorization_url(self, request):
                return self.oauth(request.redirect_uri).create_authorization_url(
                    AUTHORIZE_URL, state=request.state, code_verifier=request.code_verifier
                )[0]

            def identity_from_callback(self, callback):
                who = self.fetch_user(callback.params["code"], callback.code_verifier)
                return Identity(self.instance_name, str(who["id"]), who["email"], True)

        @hookimpl
        def labvault_auth_provider_types():
            return [GitLabLogin]
    """


@hookspec
def labvault_block_types() -> list[type[BlockType]]:  # type: ignore[empty-body]
    """Return the block types this plugin provides.

    Called once at startup; every enabled plugin is asked and all answers are collected.
    Each type needs a unique ``name``; a clash stops startup. Every registered block type
    is available; ``BLOCK_TYPES = {name: {...}}`` sets a type's options. A block type
    reads its files through ``self.host.files.open(file.sha256)``.

    Example::

        class XRDPattern(BlockType):
            name = "xrd"
            accepted_file_extensions = (".xy", ".xrdml")

            def compute(self, data, files):
                with self.host.files.open(files[0].sha256) as stream:
                    return {"peaks": find_peaks(stream)}

        @hookimpl
        def labvault_block_types():
            return [XRDPattern]
    """


@hookspec
def labvault_item_types(host: Host) -> list[type[ItemType]]:  # type: ignore[empty-body]
    """Return the item types this plugin provides: the kinds of record a lab keeps.

    Called once at startup, with the plugin's host; every enabled plugin is asked and
    all answers are collected. Each type needs a unique ``name`` (it is the item's
    ``type`` in the API and in the database, so never rename one that has items); a
    clash stops startup, and so does a type whose declarations do not fit its fields
    (a ``filterable`` field it does not have, a field named like one every item has).
    The core's four types (sample, starting_material, cell, equipment) come through
    this hook too (``labvault/builtins/item_*.py``). Items of a type whose plugin is
    disabled stay readable, read-only, with their stored fields; ``labvault config
    check`` names such types.

    Example::

        from labvault.plugin import Choice, ItemReference, ItemType, Quantity, hookimpl

        class CyclingFields(ma.Schema):
            cell = ItemReference(required=True)
            c_rate = Quantity("C", minimum=0)

        class CyclingRun(ItemType):
            name = "cycling_run"
            FieldsSchema = CyclingFields
            statuses = ("queued", "running", "finished", "failed")
            filterable = ("c_rate",)
            derived_links = {"cell": "cycling"}

        @hookimpl
        def labvault_item_types(host):
            return [CyclingRun]
    """


@hookspec
def labvault_file_source_types() -> list[type[FileSource]]:  # type: ignore[empty-body]
    """Return the file source types this plugin provides: places raw data is read from.

    Called once at startup. The deployer creates instances in ``FILE_SOURCES``, e.g.
    ``{"raman-pc": {"type": "sftp", "host": "..."}}``; each instance logs through
    ``self.host.logger``. A source only reads (``root``, ``list``, ``stat``, ``open``,
    raising the core's errors) and keeps every link it follows inside its root *as it
    opens* (:class:`~labvault.plugin.LeadsOutside` otherwise); the core cleans paths,
    applies ``excludes`` and ``max_depth`` to them and to where links led, caches
    listings, copies files into the store and keeps them fresh. Its ``OptionsSchema``
    extends :class:`~labvault.plugin.FileSourceOptions`;
    ``labvault.testing.FileSourceContract`` is the test suite every type should pass.

    Example::

        class SFTPSource(FileSource):
            name = "sftp"
            OptionsSchema = SFTPOptions  # a FileSourceOptions subclass

            def list(self, path):
                for attr in self.sftp().listdir_attr(self.native(path)):
                    yield RemoteEntry(join(path, attr.filename), S_ISDIR(attr.st_mode),
                                      attr.st_size, attr.st_mtime)

            def open(self, path):
                real = self.inside_root(self.sftp().normalize(self.native(path)))
                remote = self.sftp().open(real, "rb")
                entry = self.checked(path, real, remote.stat())  # the handle's attributes
                return OpenedFile(entry, remote)

        @hookimpl
        def labvault_file_source_types():
            return [SFTPSource]
    """


@hookspec
def labvault_inventory_importer_types() -> list[type[InventoryImporter]]:  # type: ignore[empty-body]
    """Return the inventory importer types this plugin provides: chemical inventory
    systems whose exports become starting materials.

    Called once at startup. The deployer creates instances in ``INVENTORY_IMPORTERS``.
    An importer only reads an export: ``read(stream, filename)`` yields an
    :class:`~labvault.plugin.InventoryRecord` per container (or a
    :class:`~labvault.plugin.RowProblem` for a row it rejects); matching them to items,
    creating and updating them and the report are the core's.

    Example::

        class SpreadsheetInventory(InventoryImporter):
            name = "spreadsheet"
            accepted_file_extensions = (".csv",)

            def read(self, stream, filename):
                for row, line in enumerate(csv.DictReader(text_of(stream)), start=2):
                    if not line["Barcode"]:
                        yield RowProblem(row, "Barcode", "no barcode")
                    else:
                        yield InventoryRecord(line["Barcode"], {"name": line["Name"]}, {}, row)

        @hookimpl
        def labvault_inventory_importer_types():
            return [SpreadsheetInventory]
    """


@hookspec
def labvault_backup_target_types() -> list[type[BackupTarget]]:  # type: ignore[empty-body]
    """Return the backup target types this plugin provides: places backups are kept in.

    Called once at startup. Each backup strategy of the deployer's ``BACKUP_STRATEGIES``
    makes one instance, from its ``target`` entry (``{"type": ..., **options}``), named
    after the strategy. A target is a small object store (``put`` a key from a stream,
    all or nothing; ``get``; ``exists``; ``list`` a prefix; ``delete``); snapshots,
    deduplication, retention, encryption and verification are the core's.
    ``labvault.testing.BackupTargetContract`` is the test suite every type should pass.

    Example::

        class TapeLibrary(BackupTarget):
            name = "tape"

            def put(self, key, stream):
                return self.drive().write_file(key, stream)  # all or nothing

            ...  # get, exists, list, delete

        @hookimpl
        def labvault_backup_target_types():
            return [TapeLibrary]
    """


@hookspec
def labvault_interchange_formats() -> list[type[InterchangeFormat]]:  # type: ignore[empty-body]
    """Return the interchange format types this plugin provides: file formats items
    are exported to, for other lab systems to read, and imported from.

    Called once at startup. Every format is on, with one instance named after it (its
    options, if it takes any, in ``INTERCHANGE_FORMATS``). The core chooses what is
    exported (one item with its related items, a collection, or all a user may read),
    checks who may read it, and hands the format an :class:`~labvault.plugin.Export`;
    ``write(export)`` yields the archive's bytes, which are streamed to the client
    (``GET /items/<refcode>/export.<name>``) or to a file (``labvault export``).

    A format that also reads (``POST /imports``, ``labvault import``) overrides
    ``read(archive)``: the core hands it the archive checked (a zip's sizes, ratios and
    names; a file that is no zip as one part) and it returns the records it finds
    (:class:`~labvault.plugin.Imported`); the core does the rest, for every format
    alike: types and fields validated, files streamed and checked, authors matched, all
    in one transaction, and each record remembered so an archive imported again makes
    no second item.

    Example::

        class JSONLines(InterchangeFormat):
            name = "jsonl"
            file_extension = ".jsonl"
            media_type = "application/jsonl"

            def write(self, export):
                for item in export.items:
                    yield json.dumps(item.document).encode() + b"\\n"

            def read(self, archive):
                (name,) = archive.names()
                lines = archive.read(name, max_size=1 << 24).splitlines()
                records = [json.loads(line) for line in lines]
                return Imported(
                    exporter="jsonl",
                    records=tuple(
                        ImportedRecord(key=r["refcode"], name=r["name"], type=r["type"])
                        for r in records
                    ),
                )

        @hookimpl
        def labvault_interchange_formats():
            return [JSONLines]
    """


@hookspec
def labvault_job_types(host: Host) -> list[type[JobType]]:  # type: ignore[empty-body]
    """Return the job types this plugin provides: kinds of work that outlive a request
    (a mail to send, an export to write), run in the background by the job runner.

    Called once at startup. Every job type is on, with one instance named after it; it
    takes no options (its instance reaches the plugin's through ``self.host``). A job
    of a type is recorded with ``host.jobs.enqueue(name, payload, key=...)`` and run by
    the type's ``run(job)``: in a thread of the server, or on a worker of another
    runner (``JOBS``), perhaps after a restart and more than once, so it must be safe
    to repeat. Its payload is JSON and holds no secret (``GET /jobs/<id>`` shows it to
    its owner and admins; backups keep it). A failed attempt is tried again later (see
    :class:`labvault.plugin.JobType`); every attempt and the outcome are recorded.

    Example::

        class Reindex(JobType):
            name = "instrument_reindex"
            max_attempts = 3

            def run(self, job):
                count = self.host.options["bridge"].reindex(job.payload["instrument"])
                return {"reindexed": count}

        @hookimpl
        def labvault_job_types():
            return [Reindex]

        # later, in a route of the plugin:
        host.jobs.enqueue("instrument_reindex", {"instrument": "xrd-1"}, key="xrd-1")
    """


@hookspec
def labvault_job_runner_types() -> list[type[JobRunner]]:  # type: ignore[empty-body]
    """Return the job runner types this plugin provides: where jobs run (a task queue).

    Called once at startup. ``JOBS = {"type": "<name>", **options}`` makes the one
    instance; the default, ``embedded``, runs jobs on threads of the server's own
    processes. A runner's ``submit(job_id)`` has a recorded job run soon (it must
    return at once), and ``start()`` runs in each process that takes jobs; it runs one
    with ``self.host.jobs.run(job_id)``, which claims the job first, so a job submitted
    twice or found by two workers runs once. Jobs left unfinished by a process that
    died are in ``self.host.jobs.due()``.

    Example::

        class TaskQueue(JobRunner):
            name = "taskqueue"

            def submit(self, job_id):
                self.client().send("labvault.run_job", job_id)

        @hookimpl
        def labvault_job_runner_types():
            return [TaskQueue]
    """


@hookspec
def labvault_file_store_types() -> list[type[FileStore]]:  # type: ignore[empty-body]
    """Return the file store types this plugin provides: where the content of files is
    kept (the built-in ``local`` type keeps it in a folder of the server's machine).

    Called once at startup. The deployer's ``FILE_STORE`` (``{"type": ..., **options}``,
    by default ``{"type": "local"}``) makes the server's one instance. A store keeps
    bytes under their sha256: ``writer`` and ``keep`` (all or nothing, hashed as
    written), ``open`` (a byte range), ``stat``, ``delete``, ``list`` (for garbage
    collection and ``labvault files move``) and ``sweep`` (what abandoned writes left);
    uploads, copies from file sources, blocks, garbage collection, backups and restores
    all go through it. ``labvault.testing.FileStoreContract`` is the test suite every
    type should pass.

    Example::

        class Tape(FileStore):
            name = "tape"

            def writer(self):
                return TapeWriter(self)  # a ContentWriter hashing what it spools

            ...  # keep, open, stat, delete, list

        @hookimpl
        def labvault_file_store_types():
            return [Tape]
    """


@hookspec
def labvault_blueprints(host: Host) -> list[Any]:  # type: ignore[empty-body]
    """Return extra flask-smorest blueprints to serve (and to document in /openapi.json).

    Called once while the app is created. Use :class:`labvault.plugin.Blueprint`
    (flask-smorest's, whose request bodies pass labvault's checks as the core's do) so
    the routes appear in Swagger UI with their schemas; URL prefixes must not clash with
    the core's. A view reaches the database with ``host.session()``. Bodies are bounded as
    the core's are: MAX_JSON_LENGTH unless they are multipart/form-data uploads
    (MAX_CONTENT_LENGTH); a route taking a raw file as its body sets
    ``flask.request.max_content_length`` before reading it.

    Example::

        blp = Blueprint("instruments", __name__, url_prefix="/instruments")

        @hookimpl
        def labvault_blueprints(host):
            @blp.route("/")
            def instruments():
                return host.options["instruments"]

            return [blp]
    """


@hookspec
def labvault_cli_commands(host: Host) -> list[click.Command]:  # type: ignore[empty-body]
    """Return click commands to add to the ``labvault`` command line.

    Called when the CLI starts, for enabled plugins only. Commands run inside an app
    context; they reach the database and the file store through ``host``.

    Example::

        @hookimpl
        def labvault_cli_commands(host):
            @click.command("sync-inventory")
            def sync_inventory():
                with host.session(write=True) as session:
                    ...

            return [sync_inventory]
    """


@hookspec
def labvault_startup(app: Flask, host: Host) -> None:
    """Run once after the app is created and every plugin is registered.

    Return nothing (the return value is ignored). ``host`` is ready: its database
    session, file store and ``sign_in`` work from here on. Raise
    :class:`labvault.plugin.ConfigError` with a problem (``"KEY.path: message"``) or a
    list of them to stop startup; ``labvault config check`` reports them, one a line.

    Example::

        @hookimpl
        def labvault_startup(host):
            if not host.settings["PUBLIC_URL"]:
                raise ConfigError("PUBLIC_URL: the instrument bridge sends links")
            host.logger.info("instrument bridge ready at %s", host.options["url"])
    """
