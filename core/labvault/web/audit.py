"""/audit: the audit log (admins)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from labvault.audit import service
from labvault.audit.models import AuditEvent
from labvault.audit.schemas import AuditArgsSchema, AuditEventSchema
from labvault.auth.models import Role
from labvault.paging import page_rows
from labvault.web.access import require_user
from labvault.web.blueprint import Blueprint
from labvault.web.session import get_session

blp = Blueprint(
    "audit", __name__, url_prefix="/audit", description="Admin and security actions (admins)"
)


@blp.route("")
@require_user(Role.ADMIN)
@blp.arguments(AuditArgsSchema, location="query", unknown=ma.RAISE)
@blp.response(200, AuditEventSchema(many=True))
@blp.paginate()
def audit_log(args: dict[str, Any], pagination_parameters: Any) -> list[AuditEvent]:
    """The audit log, newest first (admins only)

    Role and status changes, purges and restores from the trash, API keys created and
    revoked, backups and restores, inventory imports and file purges: who did what to
    what, when, and from which address. Filters combine; since and until take ISO 8601
    times (UTC unless a zone is given).
    """
    return page_rows(get_session(), service.list_events(**args), pagination_parameters)
