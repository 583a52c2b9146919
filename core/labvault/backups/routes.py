"""/backups: the strategies and their snapshots; running one now (admins)."""

from __future__ import annotations

from typing import Any

from labvault.auth.access import require_user, signed_in_user
from labvault.auth.models import Role
from labvault.backups import service
from labvault.backups.schemas import RunReportSchema, StrategySchema
from labvault.db import get_session
from labvault.paging import Blueprint

blp = Blueprint("backups", __name__, url_prefix="/backups", description="Backups (admins)")


@blp.route("")
@require_user(Role.ADMIN)
@blp.response(200, StrategySchema(many=True))
def list_strategies() -> list[dict[str, Any]]:
    """Every backup strategy: last run, last success and its snapshots (admins)

    A strategy whose target cannot be read now is listed with ``error`` saying why.
    """
    return service.overview(get_session())


@blp.route("/<strategy>", methods=["POST"])
@require_user(Role.ADMIN)
@blp.response(200, RunReportSchema)
@blp.alt_response(409, response="DEFAULT_ERROR", description="the strategy is running already")
@blp.alt_response(502, response="DEFAULT_ERROR", description="the target cannot be reached")
def run_strategy(strategy: str) -> dict[str, Any]:
    """Take a snapshot with a strategy now, then apply its retention (admins)

    The request lasts as long as the backup: for a large file store, run
    ``labvault backup create --strategy NAME`` instead (the server's worker timeout
    applies here).
    """
    return service.run_strategy(get_session(), strategy, actor=signed_in_user())
