"""/auth/providers, /auth/<instance>/login and /callback, /users/me/identities."""

from __future__ import annotations

from typing import Any

from flask import current_app, redirect, request, url_for
from flask.views import MethodView

from labvault.auth.access import current_user, require_user, signed_in_user
from labvault.auth.schemas import SessionTokensSchema
from labvault.auth.throttle import check_rate_limit, document_rate_limit
from labvault.db import get_session
from labvault.errors import NotFound, Unauthenticated
from labvault.paging import Blueprint
from labvault.plugin import AuthProvider
from labvault.registry import AUTH_PROVIDERS
from labvault.signin import flows, service, urls
from labvault.signin.delivery import deliver, wants_json
from labvault.signin.schemas import (
    AuthorizationUrlSchema,
    IdentitySchema,
    LoginQuerySchema,
    ProviderSchema,
)

blp = Blueprint("signin", __name__, url_prefix="/auth", description="Signing in")
identities_blp = Blueprint(
    "identities",
    __name__,
    url_prefix="/users/me/identities",
    description="The ways you sign in",
)


def providers() -> dict[str, AuthProvider]:
    return current_app.extensions["labvault"].registry.instances_of(AUTH_PROVIDERS)


def provider_info() -> list[dict[str, Any]]:
    """Every enabled sign-in provider, as /auth/providers and /info list them."""
    return [
        {
            "name": name,
            "type": provider.name,
            "display_name": provider.label,
            "login_url": (
                url_for("signin.login", instance=name)
                if provider.redirects
                else provider.login_url()
            ),
        }
        for name, provider in providers().items()
    ]


def redirect_provider(instance: str) -> AuthProvider:
    provider = providers().get(instance)
    if provider is None or not provider.redirects:
        raise NotFound(f"no sign-in provider {instance!r} that redirects is enabled")
    return provider


def external_url(endpoint: str, **values: Any) -> str:
    """The absolute URL of a route, under PUBLIC_URL (never the request's host)."""
    path = url_for(endpoint, **values)[len(request.script_root) :]
    return urls.external_url(path, current_app.extensions["labvault"].settings["PUBLIC_URL"])


@blp.route("/providers")
@blp.doc(security=[])
@blp.response(200, ProviderSchema(many=True))
def list_providers() -> list[dict[str, Any]]:
    """The sign-in providers of this server, with where signing in starts"""
    return provider_info()


@blp.route("/<instance>/login")
@document_rate_limit(blp, "signin")
@blp.doc(security=[])
@blp.arguments(LoginQuerySchema, location="query")
@blp.response(200, AuthorizationUrlSchema, description="with Accept: application/json")
@blp.alt_response(302, description="to the provider's sign-in page")
def login(query: dict[str, Any], instance: str) -> Any:
    """Start signing in with a provider: a redirect to it

    With link=true (and your bearer token) the provider's identity is added to your
    account instead. The sign-in must be finished within 10 minutes.
    """
    provider = redirect_provider(instance)
    check_rate_limit("signin")
    settings = current_app.extensions["labvault"].settings
    next_url = urls.check_next_url(query["next"], settings["ALLOWED_REDIRECT_ORIGINS"])
    link_user_id = None
    if query["link"]:
        user = current_user()
        if user is None:
            raise Unauthenticated("linking needs your bearer token: you are not signed in")
        link_user_id = user.id
    url = flows.start_login(
        get_session(),
        provider,
        redirect_uri=external_url("signin.callback", instance=instance),
        next_url=next_url,
        link_user_id=link_user_id,
    )
    if wants_json():
        return {"authorization_url": url, "expires_in": int(flows.LOGIN_LIFETIME.total_seconds())}
    response = redirect(url, 302)
    response.headers["Cache-Control"] = "no-store"
    return response


_CALLBACK_PARAMETERS = [
    {"in": "query", "name": name, "schema": {"type": "string"}, "description": text}
    for name, text in [
        ("state", "the single-use state the sign-in started with"),
        ("code", "the provider's authorization code"),
        ("error", "the provider's reason for not signing you in"),
    ]
]


@blp.route("/<instance>/callback")
@document_rate_limit(blp, "signin")
@blp.doc(security=[], parameters=_CALLBACK_PARAMETERS)
@blp.response(200, SessionTokensSchema, description="the tokens (a page unless JSON is asked)")
@blp.alt_response(302, description="to next, the tokens in the URL fragment")
def callback(instance: str) -> Any:
    """Where the provider sends the browser back: checks it and signs you in

    Without next, the answer is a page showing the access token to paste into /doc, or
    the tokens as JSON for 'Accept: application/json'.
    """
    provider = redirect_provider(instance)
    check_rate_limit("signin")
    params = {key: request.args.get(key, "") for key in request.args}
    signer = current_app.extensions["labvault"].signer
    allowed = current_app.extensions["labvault"].settings["ALLOWED_REDIRECT_ORIGINS"]
    tokens, next_url = flows.finish_login(get_session(), signer, provider, params, allowed)
    return deliver(tokens, next_url)


@identities_blp.route("")
class Identities(MethodView):
    @require_user(unverified=True)
    @identities_blp.response(200, IdentitySchema(many=True))
    def get(self) -> list[Any]:
        """The identities you sign in with (providers and their ids of you)"""
        return service.list_identities(get_session(), signed_in_user())


@identities_blp.route("/<int:identity_id>", methods=["DELETE"])
@require_user(unverified=True)
@identities_blp.response(204)
def unlink(identity_id: int) -> None:
    """Stop signing in with one of your identities (never the last one)"""
    service.unlink_identity(get_session(), signed_in_user(), identity_id)
