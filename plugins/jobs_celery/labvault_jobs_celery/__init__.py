"""labvault's jobs on Celery: ``JOBS = {"type": "celery", "broker_url": ...}`` sends each
job to a queue (Redis or RabbitMQ), and ``labvault worker`` runs them. README.md lists
every option.
"""

from __future__ import annotations

from typing import Any

import click
from labvault.plugin import Host, JobRunner, hookimpl

from labvault_jobs_celery.runner import CeleryRunner, runner_of

__all__ = ["CeleryRunner", "labvault_cli_commands", "labvault_job_runner_types"]

#: The plugin API this plugin is written against (see plugins/README.md, "Plugin API versions").
LABVAULT_PLUGIN_API = ">=2.1,<3"


@hookimpl
def labvault_job_runner_types() -> list[type[JobRunner]]:
    return [CeleryRunner]


@hookimpl
def labvault_cli_commands(host: Host) -> list[Any]:
    @click.command("worker")
    @click.option(
        "--concurrency", type=click.IntRange(1, 256), help="Jobs at once (default: the option)."
    )
    @click.option(
        "--loglevel",
        type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
        default="INFO",
        show_default=True,
    )
    def worker(concurrency: int | None, loglevel: str) -> None:
        """Run labvault's jobs from the Celery queue (JOBS = {"type": "celery", ...})."""
        runner = runner_of(host)
        if runner is None:
            raise click.ClickException(
                'JOBS does not name the "celery" runner: this server runs its jobs itself'
            )
        runner.work(concurrency=concurrency, loglevel=loglevel)

    return [worker]
