"""/users: who am I, and (admins) everyone's role and status."""

from __future__ import annotations

from typing import Any, cast

from flask.views import MethodView
from flask_smorest import abort
from sqlalchemy.orm import Session

from labvault.auth.access import current_user, require_user, signed_in_user
from labvault.db import get_session
from labvault.paging import Blueprint, page_rows
from labvault.users import service
from labvault.users.models import Role, Status, User
from labvault.users.schemas import UserSchema, UserUpdateSchema

blp = Blueprint("users", __name__, url_prefix="/users", description="User accounts")


@blp.route("/me")
class Me(MethodView):
    @require_user()
    @blp.response(200, UserSchema)
    def get(self) -> User | None:
        """The signed-in user"""
        return current_user()


@blp.route("")
class Users(MethodView):
    @require_user(Role.ADMIN)
    @blp.response(200, UserSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters: Any) -> list[User]:
        """All users (admins only), oldest first"""
        session = get_session()
        query = service.list_users()
        return page_rows(session, query, pagination_parameters)


def _user_or_404(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        abort(404, message=f"no user with id {user_id}")
    return cast(User, user)


@blp.route("/<int:user_id>")
class OneUser(MethodView):
    @require_user(Role.ADMIN)
    @blp.etag
    @blp.response(200, UserSchema)
    def get(self, user_id: int) -> User:
        """One user (admins only); its ETag header is what PATCH needs in If-Match"""
        return _user_or_404(get_session(), user_id)

    @require_user(Role.ADMIN)
    @blp.etag
    @blp.arguments(UserUpdateSchema)
    @blp.response(200, UserSchema)
    def patch(self, changes: dict[str, Any], user_id: int) -> User:
        """Change a user's role or status (admins only; needs If-Match)

        Send the ETag of GET /users/{user_id} in If-Match. Deactivating a user stops
        their tokens and API keys at once.
        """
        session = get_session()
        user = service.lock_user(session, user_id)
        if user is None:
            abort(404, message=f"no user with id {user_id}")
        assert user is not None
        blp.check_etag(user, UserSchema)  # under the row lock: two PATCHes cannot both pass
        me = signed_in_user()
        demotes = changes.get("role") not in (None, Role.ADMIN)
        deactivates = changes.get("status") not in (None, Status.ACTIVE)
        if user.id == me.id and (demotes or deactivates):
            abort(409, message="admins cannot demote or deactivate themselves")
        return service.update_user(session, user, **changes)
