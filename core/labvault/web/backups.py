"""/backups: the strategies and their snapshots; running one now (admins)."""

from __future__ import annotations

from typing import Any

from flask import url_for

from labvault.auth.models import Role
from labvault.backups import reports, runs
from labvault.backups.schemas import StrategySchema
from labvault.web.access import require_user, signed_in_user
from labvault.web.blueprint import Blueprint
from labvault.web.session import get_session
from labvault.web.state import backups, jobs

blp = Blueprint("backups", __name__, url_prefix="/backups", description="Backups (admins)")


@blp.route("")
@require_user(Role.ADMIN)
@blp.response(200, StrategySchema(many=True))
def list_strategies() -> list[dict[str, Any]]:
    """Every backup strategy: last run, last success and its snapshots (admins)

    A strategy whose target cannot be read now is listed with ``error`` saying why.
    """
    return reports.overview(get_session(), backups())


@blp.route("/<strategy>")
@require_user(Role.ADMIN)
@blp.response(200, StrategySchema)
def get_strategy(strategy: str) -> dict[str, Any]:
    """One backup strategy: whether it runs now, its last run and report, its snapshots
    (admins)"""
    return reports.strategy_state(get_session(), backups(), strategy)


@blp.route("/<strategy>", methods=["POST"])
@require_user(Role.ADMIN)
@blp.response(202, StrategySchema)
@blp.alt_response(
    409,
    response="DEFAULT_ERROR",
    description="the strategy is running already, or the newest snapshot in its repository "
    "is another installation's (`labvault backup adopt`)",
)
def run_strategy(strategy: str) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Start a snapshot with a strategy now, then apply its retention (admins)

    The run is a job (``job``: ``GET /jobs/{id}``) that goes on in the background after
    the answer (202, ``running`` true), however large the file store, and is taken up
    again if the process running it dies; ``GET /backups/{strategy}`` (the
    ``Location``) shows when it ends: ``running`` false, with ``last_success_at`` and
    ``last_report``, or ``last_error``.
    The audit log notes ``backup.started`` now and ``backup.succeeded`` or
    ``backup.failed`` at the end.
    """
    started = runs.start_strategy(
        get_session(), backups(), jobs(), strategy, actor=signed_in_user()
    )
    return started, 202, {"Location": url_for("backups.get_strategy", strategy=strategy)}
