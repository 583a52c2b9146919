"""/users: who am I, and (admins) everyone's role and status."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from labvault.auth.models import Role, User
from labvault.paging import page_rows
from labvault.users import service
from labvault.users.schemas import UserSchema, UserUpdateSchema
from labvault.web.access import current_user, require_user, signed_in_user
from labvault.web.blueprint import Blueprint
from labvault.web.conditional import if_match_tags
from labvault.web.session import get_session
from labvault.web.state import signer

blp = Blueprint("users", __name__, url_prefix="/users", description="User accounts")


@blp.route("/me")
class Me(MethodView):
    @require_user(unverified=True)
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
        return page_rows(get_session(), service.list_users(), pagination_parameters)


@blp.route("/<int:user_id>")
class OneUser(MethodView):
    @require_user(Role.ADMIN)
    @blp.etag
    @blp.response(200, UserSchema)
    def get(self, user_id: int) -> User:
        """One user (admins only); its ETag header is what PATCH needs in If-Match"""
        return service.get_user(get_session(), user_id)

    @require_user(Role.ADMIN)
    @blp.etag
    @blp.arguments(UserUpdateSchema, required=False)  # no body: nothing to change
    @blp.response(200, UserSchema)
    def patch(self, changes: dict[str, Any], user_id: int) -> User:
        """Change a user's role or status (admins only; needs If-Match)

        Send the ETag of GET /users/{user_id} in If-Match. Deactivating a user stops
        their tokens and API keys at once.
        """
        if_match_tags()  # one that is not an ETag is none (428), as everywhere else
        session = get_session()
        user = service.lock_user(session, user_id)
        blp.check_etag(user, UserSchema)  # under the row lock: two PATCHes cannot both pass
        return service.change_user(session, signer(), signed_in_user(), user, changes)
