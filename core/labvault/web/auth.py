"""/auth (refresh, logout) and /users/me/api-keys."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from labvault.auth import service
from labvault.auth.schemas import (
    ApiKeyCreatedSchema,
    ApiKeyCreateSchema,
    ApiKeySchema,
    RefreshRequestSchema,
    SessionTokensSchema,
)
from labvault.plugin import SessionTokens
from labvault.web.access import (
    refuse_token,
    require_user,
    signed_in_user,
    signed_in_with_api_key,
)
from labvault.web.blueprint import Blueprint
from labvault.web.session import get_session
from labvault.web.state import signer
from labvault.web.throttle import rate_limited

blp = Blueprint("auth", __name__, url_prefix="/auth", description="Sessions")
keys_blp = Blueprint(
    "api_keys", __name__, url_prefix="/users/me/api-keys", description="Personal API keys"
)


@blp.route("/refresh", methods=["POST"])
@rate_limited(blp, "token")
@blp.doc(security=[])
@blp.arguments(RefreshRequestSchema)
@blp.response(200, SessionTokensSchema)
def refresh(body: dict[str, Any]) -> SessionTokens:
    """Exchange a refresh token for a new access token and refresh token

    Each refresh token works once; presenting a used one again revokes the session. A
    refused token (unknown, used, revoked, expired, of a deactivated account) gets 401
    "invalid or expired token", as every refused token does.
    """
    try:
        return service.refresh_session(get_session(), signer(), body["refresh_token"])
    except service.AuthError as error:
        refuse_token("refresh", error)


@blp.route("/logout", methods=["POST"])
@rate_limited(blp, "token")
@blp.doc(security=[])
@blp.arguments(RefreshRequestSchema)
@blp.response(204)
def logout(body: dict[str, Any]) -> None:
    """End a session: its refresh tokens and access tokens stop working at once"""
    service.end_session(get_session(), signer(), body["refresh_token"])


@keys_blp.route("")
class ApiKeys(MethodView):
    @require_user()
    @keys_blp.response(200, ApiKeySchema(many=True))
    def get(self) -> list[Any]:
        """Your API keys (the keys themselves are never shown again)"""
        return service.list_api_keys(get_session(), signed_in_user())

    @require_user()  # a request without a user is 401, and not counted
    @rate_limited(keys_blp, "token")
    @keys_blp.arguments(ApiKeyCreateSchema)
    @keys_blp.response(201, ApiKeyCreatedSchema)
    @keys_blp.alt_response(403, schema="Error", description="sent with an API key")
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create an API key for scripts and instruments

        Send it as 'Authorization: Bearer <key>'. It is shown once, in this answer.
        API keys are created with an access token from signing in, not with another API
        key (403): a leaked key cannot make keys that outlive it. A key still lists and
        revokes keys.
        """
        key, secret = service.create_api_key(
            get_session(),
            signed_in_user(),
            body["name"],
            body["expires_at"],
            with_api_key=signed_in_with_api_key(),
        )
        return {**{name: getattr(key, name) for name in ApiKeySchema().fields}, "key": secret}


@keys_blp.route("/<int:key_id>", methods=["DELETE"])
@require_user()
@keys_blp.response(204)
def revoke_api_key(key_id: int) -> None:
    """Revoke one of your API keys; it stops working at once"""
    service.revoke_api_key(get_session(), signed_in_user(), key_id)
