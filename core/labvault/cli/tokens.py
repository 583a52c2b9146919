"""``labvault tokens``: access tokens."""

from __future__ import annotations

import click

from labvault.cli.context import cli_state
from labvault.errors import LabvaultError


@click.group()
def tokens() -> None:
    """Access tokens."""


@tokens.command("issue")
@click.option("--user", "email", required=True, help="Email or id of the user.")
@click.option(
    "--minutes",
    type=click.IntRange(min=1),
    default=None,
    help="Lifetime (default: ACCESS_TOKEN_LIFETIME).",
)
@click.pass_context
def tokens_issue(ctx: click.Context, email: str, minutes: int | None) -> None:
    """Print an access token (alone on stdout, for scripts).

    It is the token of a session of its own that ends with it: deactivating the user
    revokes it as it does every session.
    """
    import datetime as dt

    from labvault.auth.service import start_session
    from labvault.users.service import find_user

    state = cli_state(ctx)
    with state.runtime_session() as session:
        user = find_user(session, email)
        if not user.is_active:
            raise LabvaultError(f"{user.email or f'user {user.id}'} is deactivated")
        signer = state.runtime().signer
        lifetime = dt.timedelta(minutes=minutes) if minutes else signer.lifetime
        # the refresh token is not shown: the session ends with this token
        tokens = start_session(session, signer, user, lifetime, access_lifetime=lifetime)
        click.echo(tokens.access_token)
