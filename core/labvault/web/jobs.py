"""/jobs: the state of a job, for who asked for it (and admins)."""

from __future__ import annotations

from typing import Any

from labvault.auth.models import Role
from labvault.jobs.schemas import JobSchema
from labvault.jobs.service import job_document
from labvault.web.access import require_user, signed_in_user
from labvault.web.blueprint import Blueprint
from labvault.web.session import get_session

blp = Blueprint("jobs", __name__, url_prefix="/jobs", description="Work that outlives a request")


@blp.route("/<int:job_id>")
@require_user()
@blp.response(200, JobSchema)
def get_job(job_id: int) -> dict[str, Any]:
    """One job: its state, attempts, and result or error (its owner, or admins)

    Work that outlives a request (a backup started with ``POST /backups/{strategy}``)
    is a job, run in the background, tried again after a failure and taken up again
    after a restart: ``queued``, ``running``, then ``succeeded`` or ``failed``. Another
    user's job is not found (404).
    """
    user = signed_in_user()
    admin = user.role.rank >= Role.ADMIN.rank
    return job_document(get_session(), job_id, user_id=user.id, admin=admin)
