"""``labvault audit``: the audit log of admin and security actions, newest first (see
:mod:`labvault.audit`)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import click

from labvault.cli.context import cli_state


class IsoTime(click.ParamType):
    """An ISO 8601 time; one without a zone is UTC."""

    name = "ISO-TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from labvault.audit.tables import EARLIEST, LATEST

        if isinstance(value, dt.datetime):
            return value
        try:
            moment = dt.datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 time, e.g. 2026-11-30T08:00:00Z", param, ctx)
        moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
        if not EARLIEST <= moment <= LATEST:
            self.fail(f"{value!r} is not between the years 1000 and 9999", param, ctx)
        return moment


def _line(event: Any) -> str:
    actor = event.actor if event.actor_id is None else f"{event.actor} (user {event.actor_id})"
    line = (
        f"{event.at:%Y-%m-%d %H:%M:%S}Z  {event.action}  {actor}  {event.target}"
        f"  {json.dumps(event.details, sort_keys=True, ensure_ascii=False)}"
    )
    return f"{line}  from {event.client}" if event.client else line


def _as_json(event: Any) -> str:
    fields = ("id", "action", "actor_id", "actor", "target", "details", "client")
    answer = {"at": event.at.isoformat(), **{name: getattr(event, name) for name in fields}}
    return json.dumps(answer, sort_keys=True, ensure_ascii=False)


@click.command("audit")
@click.option("--action", metavar="ACTION", help="Only this action, e.g. user.role_changed.")
@click.option("--actor-id", type=click.IntRange(min=1), help="Only what this user did.")
@click.option("--target", metavar="TEXT", help="Only events whose target contains TEXT.")
@click.option("--since", type=IsoTime(), help="Only events at or after this time.")
@click.option("--until", type=IsoTime(), help="Only events before this time.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def audit_command(
    ctx: click.Context,
    action: str | None,
    actor_id: int | None,
    target: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    limit: int,
    as_json: bool,
) -> None:
    """Show the audit log (role and status changes, purges, restores, API keys,
    backups, imports), one line per event, newest first."""
    import sqlalchemy as sa

    from labvault.audit.tables import audit_events, matching

    conditions = matching(action=action, actor_id=actor_id, target=target, since=since, until=until)
    newest = audit_events.c.id.desc()
    query = sa.select(audit_events).where(*conditions).order_by(newest).limit(limit)
    # only reads: no app, no plugins, no ORM (the rows' columns are the events' fields)
    with cli_state(ctx).connection() as connection:
        lines = [(_as_json if as_json else _line)(e) for e in connection.execute(query)]
    if not lines and not as_json:
        click.echo("no audit events")
    for line in lines:
        click.echo(line)
