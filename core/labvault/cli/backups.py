"""``labvault backup``: snapshots with strategies or into one archive; list, verify,
restore (see :mod:`labvault.backups`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from labvault.cli.context import cli_state
from labvault.cli.output import Bars, human_size, print_table
from labvault.errors import LabvaultError

if TYPE_CHECKING:
    import sqlalchemy as sa


def _run_summary(report: dict[str, Any]) -> str:
    where = f"strategy {report['strategy']}" if "strategy" in report else report["path"]
    line = (
        f"snapshot {report['snapshot']} ({where}): {report['rows']} rows, "
        f"{report['files']} files ({human_size(report['bytes'])})"
    )
    if "files_uploaded" in report:
        line += (
            f", {report['files_uploaded']} files uploaded ({human_size(report['bytes_uploaded'])})"
        )
        if "chunks_uploaded" in report:
            chunks = report["chunks_uploaded"] + report["chunks_reused"]
            line += (
                f", dump: {report['chunks_uploaded']} of {chunks} chunks new "
                f"({human_size(report['dump_bytes_uploaded'])})"
            )
        if report["snapshots_removed"]:
            line += f", {len(report['snapshots_removed'])} old snapshot(s) removed"
    else:
        line += f", archive {human_size(report['archive_bytes'])}"
    return f"{line}, in {report['seconds']:.1f} s"


@click.group()
def backup() -> None:
    """Backups: snapshots of the database and the files (see BACKUP_STRATEGIES)."""


def _backups(ctx: click.Context) -> Any:
    """The app's :class:`~labvault.backups.strategies.Backups`, which back up the tables
    of every model (imported here: the runtime imports only the models it uses)."""
    from labvault.backups.strategies import Backups
    from labvault.models import metadata

    state = cli_state(ctx).runtime()
    return Backups.configured(state.settings, state.registry, state.database, metadata)


def _run_strategies(session: Any, backups: Any, names: list[str]) -> None:
    from labvault.audit.service import CLI
    from labvault.backups import runs

    failed = 0
    for name in names:
        bars = Bars()
        try:
            report = runs.run_strategy(session, backups, name, bars, actor=CLI)
        except LabvaultError as exc:
            bars.close()
            failed += 1
            click.echo(f"{name}: failed: {exc}", err=True)
            continue
        bars.close()
        click.echo(_run_summary(report))
    if failed:
        raise SystemExit(1)


@backup.command("create")
@click.option("--strategy", metavar="NAME", help="Back up with this strategy (default: all).")
@click.option(
    "--output-path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write one self-contained .tar.gz instead; no strategy needed.",
)
@click.option(
    "--compression-level",
    type=click.IntRange(0, 9),
    default=6,
    show_default=True,
    help="gzip level of an --output-path archive.",
)
@click.pass_context
def backup_create(
    ctx: click.Context, strategy: str | None, output_path: Path | None, compression_level: int
) -> None:
    """Take a snapshot now: with one strategy, every strategy, or into an archive."""
    from labvault.backups import runs

    if strategy and output_path:
        raise click.UsageError("give --strategy or --output-path, not both")
    backups = _backups(ctx)
    with cli_state(ctx).runtime_session() as session:
        if output_path is not None:
            bars = Bars()
            report = runs.create_archive(backups, output_path, compression_level, bars)
            bars.close()
            click.echo(_run_summary(report))
            return
        names = [strategy] if strategy else list(backups.strategies())
        if not names:
            raise LabvaultError("no backup strategies are configured (BACKUP_STRATEGIES)")
        if strategy:
            backups.strategy(strategy)
        _run_strategies(session, backups, names)


@backup.command("due")
@click.pass_context
def backup_due(ctx: click.Context) -> None:
    """Run every strategy whose last success is older than its frequency (for cron)."""
    from labvault.backups.due import due_strategies

    # two settings and one table, read with Core: the settings' schema, the plugins, the
    # ORM and the models are loaded for a run alone (its config problems are reported then)
    state = cli_state(ctx)
    with state.connection() as connection:
        names = due_strategies(connection, state.reading().backup_strategies)
    if not names:
        click.echo("no backup is due")
        return
    with cli_state(ctx).runtime_session() as session:
        _run_strategies(session, _backups(ctx), names)


@backup.command("list")
@click.option("--strategy", metavar="NAME", help="Only this strategy's snapshots.")
@click.pass_context
def backup_list(ctx: click.Context, strategy: str | None) -> None:
    """The snapshots each strategy keeps, oldest first."""
    from labvault.backups import reports

    failed = False
    backups = _backups(ctx)
    names = [backups.strategy(strategy).name] if strategy else list(backups.strategies())
    rows = []
    for name in names:
        problems: list[str] = []
        try:
            snapshots = reports.snapshots_of(backups, name, problems)
        except LabvaultError as exc:  # the others are still listed
            problems.append(str(exc))
            snapshots = []
        for problem in problems:
            click.echo(f"{name}: {problem}", err=True)
        failed = failed or bool(problems)
        for snapshot in snapshots:
            rows.append(
                (
                    name,
                    snapshot["snapshot"],
                    snapshot["rows"],
                    snapshot["files"],
                    human_size(snapshot["bytes"]),
                    "yes" if snapshot["encrypted"] else "no",
                )
            )
    print_table(("strategy", "snapshot", "rows", "files", "size", "encrypted"), rows)
    if failed:
        raise SystemExit(1)


@backup.command("verify")
@click.option("--strategy", metavar="NAME", help="Only this strategy (default: all).")
@click.option(
    "--from-archive",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Verify an archive of `backup create --output-path`.",
)
@click.argument("snapshot", required=False)
@click.pass_context
def backup_verify(
    ctx: click.Context, strategy: str | None, from_archive: Path | None, snapshot: str | None
) -> None:
    """Read every part and file of snapshots again and check every checksum."""
    import time

    from labvault.backups import reports

    if snapshot and not strategy:
        raise click.UsageError("a SNAPSHOT needs --strategy")
    started = time.monotonic()
    bars = Bars()
    if from_archive is not None:
        checked = [(str(from_archive), reports.verify_archive(from_archive, bars))]
    else:
        backups = _backups(ctx)
        names = [strategy] if strategy else list(backups.strategies())
        checked = [
            (name, report)
            for name in names
            for report in reports.verify(backups, backups.strategy(name).name, snapshot, bars)
        ]
    bars.close()
    problems = 0
    for where, report in checked:
        for problem in report.problems:
            click.echo(f"{where} {report.manifest.get('snapshot')}: {problem}")
        problems += len(report.problems)
    total = sum(report.bytes for _, report in checked)
    click.echo(
        f"verified {len(checked)} snapshot(s), {sum(r.contents for _, r in checked)} files, "
        f"{human_size(total)} in {time.monotonic() - started:.1f} s: "
        + (f"{problems} problem(s)" if problems else "no problems")
    )
    if problems:
        raise SystemExit(1)


def _newest(repository: Any, strategy: str) -> str:
    snapshots = repository.snapshots()
    if not snapshots:
        raise LabvaultError(f"backup strategy {strategy} has no snapshot to restore")
    newest: str = max(snapshots)  # ids sort by time
    return newest


@backup.command("adopt")
@click.argument("strategy")
@click.pass_context
def backup_adopt(ctx: click.Context, strategy: str) -> None:
    """This installation takes over STRATEGY's repository, whose newest snapshot another
    installation wrote (e.g. the server this one was restored from); its backups then go
    on, and the other installation's are refused."""
    from labvault.audit.service import CLI
    from labvault.backups.installation import adopt, installation_id

    backups = _backups(ctx)
    with cli_state(ctx).runtime_session() as session:
        repository = backups.strategy(strategy).repository()
        taken = adopt(session, strategy, repository, actor=CLI)
        own = installation_id(session)
    if taken is None:
        click.echo(
            f"{strategy}: nothing to adopt: the newest snapshot in its repository is this "
            f"installation's ({own}), or there is none"
        )
        return
    click.echo(
        f"{strategy}: this installation ({own}) takes over the repository of installation "
        f"{taken.installation} (newest snapshot {taken.snapshot}); its next backup goes on, "
        "and that installation's backups into it are refused from now on"
    )


class AlembicMigrations:
    """The schema's migrations as a restore needs them (labvault.backups.restore)."""

    def __init__(self, url: str, search_engine: str = "auto") -> None:
        self.url = url
        self.search_engine = search_engine

    def upgrade(self, revision: str) -> None:
        from labvault import migrations

        migrations.upgrade(self.url, revision, self.search_engine)

    def remove_all(self) -> None:
        from labvault import migrations

        migrations.remove_all(self.url)

    def knows(self, revision: str) -> bool:
        from labvault import migrations

        return revision in migrations.revisions()

    @property
    def metadata(self) -> sa.MetaData:
        from labvault.models import metadata

        return metadata


@backup.command("restore")
@click.option("--strategy", metavar="NAME", help="Restore a snapshot of this strategy.")
@click.option(
    "--from-archive",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Restore an archive of `backup create --output-path`.",
)
@click.option("--latest", is_flag=True, help="The strategy's newest snapshot (no SNAPSHOT).")
@click.option("--force", is_flag=True, help="Replace a database and file store that are not empty.")
@click.argument("snapshot", required=False)
@click.pass_context
def backup_restore(
    ctx: click.Context,
    strategy: str | None,
    from_archive: Path | None,
    latest: bool,
    force: bool,
    snapshot: str | None,
) -> None:
    """Restore a snapshot into this server's database and file store.

    The database keeps its own installation id: if this server is to take over the
    strategy's repository, run `labvault backup adopt NAME` before its next backup."""
    import time

    from labvault.backups import restore, runs
    from labvault.backups.snapshot import temporary_folder

    if latest and (snapshot or from_archive):
        raise click.UsageError("--latest takes the newest snapshot: give no SNAPSHOT with it")
    if bool(from_archive) == bool(strategy) or (strategy and not (snapshot or latest)):
        raise click.UsageError(
            "give --strategy NAME SNAPSHOT, or --from-archive FILE (or --strategy NAME --latest)"
        )
    started = time.monotonic()
    backups = _backups(ctx)
    with cli_state(ctx).runtime_session() as session:
        if from_archive is not None:
            source: Any = restore.ArchiveSource(from_archive)
        else:
            assert strategy is not None
            repository = backups.strategy(strategy).repository()
            repository.open(create=False)
            snapshot = snapshot or _newest(repository, strategy)
            source = restore.RepositorySource(repository, snapshot)
        settings = backups.settings
        bars = Bars()
        try:
            with temporary_folder() as folder:
                report = restore.restore(
                    source,
                    backups.engine,
                    backups.store,
                    AlembicMigrations(settings["DATABASE_URL"], settings["MARIADB_SEARCH_ENGINE"]),
                    Path(folder),
                    force=force,
                    progress=bars,
                )
        finally:
            bars.close()
            source.close()
        origin = f"archive {from_archive.name}" if from_archive else f"strategy {strategy}"
        runs.record_restore(
            session,
            report.snapshot,
            origin,
            rows=report.rows,
            tables=report.tables,
            files=report.files,
        )
    click.echo(
        f"restored snapshot {report.snapshot}: {report.rows} rows in {report.tables} tables, "
        f"{report.files} files ({human_size(report.bytes)}) in {time.monotonic() - started:.1f} s"
        + (f"; {report.contents_removed} other files removed" if report.contents_removed else "")
    )
