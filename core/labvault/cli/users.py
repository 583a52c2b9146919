"""``labvault users``: user accounts."""

from __future__ import annotations

from typing import Any

import click

from labvault.cli.context import cli_state
from labvault.cli.output import print_table

#: The values of labvault.auth.models.Role (tests/test_cli.py checks): written out, so
#: that the CLI's options are known without importing the database models.
ROLE_NAMES = ("user", "manager", "admin")
ROLE_CHOICE = click.Choice(ROLE_NAMES)


@click.group()
def users() -> None:
    """User accounts."""


@users.command("create")
@click.argument("email")
@click.option("--role", type=ROLE_CHOICE, default="user", show_default=True)
@click.option("--name", default="", help="Display name (default: the part before @).")
@click.pass_context
def users_create(ctx: click.Context, email: str, role: str, name: str) -> None:
    """Create an active user."""
    from labvault.auth.models import Role
    from labvault.users.service import create_user

    with cli_state(ctx).runtime_session() as session:
        user = create_user(session, email, display_name=name, role=Role(role))
        click.echo(f"created user {user.id} {user.email} ({user.role.value})")


@users.command("list")
@click.pass_context
def users_list(ctx: click.Context) -> None:
    """List users."""
    from labvault.users.service import list_users

    with cli_state(ctx).runtime_session() as session:
        rows = [
            (u.id, u.email or "-", u.display_name, u.role.value, u.status.value)
            for u in session.scalars(list_users())
        ]
    if not rows:
        click.echo("no users")
        return
    print_table(("id", "email", "name", "role", "status"), rows)


@users.command("set-role")
@click.argument("who")
@click.argument("role", type=ROLE_CHOICE)
@click.pass_context
def users_set_role(ctx: click.Context, who: str, role: str) -> None:
    """Change a user's role (WHO: an email or a user id)."""
    _change_user(ctx, who, role=role)


@users.command("activate")
@click.argument("who")
@click.pass_context
def users_activate(ctx: click.Context, who: str) -> None:
    """Activate an account (WHO: an email or a user id), e.g. one a sign-in registered."""
    _change_user(ctx, who, status="active")


@users.command("deactivate")
@click.argument("who")
@click.pass_context
def users_deactivate(ctx: click.Context, who: str) -> None:
    """Deactivate a user: their tokens and API keys stop working at once."""
    _change_user(ctx, who, status="deactivated")


def _change_user(ctx: click.Context, who: str, **changes: str) -> None:
    """Apply ``changes`` (a role or status, by its value) to a user and say so."""
    from labvault.audit.service import CLI
    from labvault.auth.models import Role, Status
    from labvault.users.service import find_user, update_user

    kinds: dict[str, Any] = {"role": Role, "status": Status}
    values = {name: kinds[name](value) for name, value in changes.items()}

    state = cli_state(ctx)
    with state.runtime_session() as session:
        signer = state.runtime().signer
        user = find_user(session, who, for_update=True)
        user = update_user(session, signer, user, actor=CLI, **values)
        name = user.email or f"user {user.id}"
        click.echo(
            f"{name} is now {user.role.value}"
            if "role" in changes
            else f"{name} is {user.status.value}"
        )
