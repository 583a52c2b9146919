"""/auth/providers, /auth/<instance>/login, /continue, /callback and /link, and
/users/me/identities."""

from __future__ import annotations

from typing import Any

from flask import jsonify, redirect, request, url_for
from flask.views import MethodView
from werkzeug.wrappers import Response

from labvault.auth.schemas import SessionTokensSchema
from labvault.errors import NotFound, Unauthenticated
from labvault.plugin import AuthProvider
from labvault.registry import AUTH_PROVIDERS
from labvault.signin import flows, linking, service, urls
from labvault.signin.schemas import (
    AuthorizationUrlSchema,
    HeldLoginSchema,
    IdentitySchema,
    LinkConfirmationSchema,
    LoginQuerySchema,
    ProviderSchema,
)
from labvault.web import browser
from labvault.web.access import current_user, require_user, signed_in_user
from labvault.web.blueprint import Blueprint
from labvault.web.delivery import deliver, wants_json
from labvault.web.pages import form_page
from labvault.web.session import get_session
from labvault.web.state import registry, settings, signer
from labvault.web.throttle import check_rate_limit, document_rate_limit

blp = Blueprint("signin", __name__, url_prefix="/auth", description="Signing in")
identities_blp = Blueprint(
    "identities",
    __name__,
    url_prefix="/users/me/identities",
    description="The ways you sign in",
)


_CONFIRM = """<h1>Add a way to sign in?</h1>
<p>You signed in with <strong>{{ provider }}</strong> as <strong>{{ identity }}</strong>.</p>
<p>Add this to the labvault account of <strong>{{ account }}</strong>? From then on,
signing in with {{ provider }} as {{ identity }} opens that account.</p>
<form method="post" action="{{ action }}">
<input type="hidden" name="confirmation" value="{{ secret }}">
<button type="submit">Add it to {{ account }}</button>
</form>
<p>If that is not your account, or you did not start this, close this page: nothing is
added.</p>
"""


def providers() -> dict[str, AuthProvider]:
    return registry().instances_of(AUTH_PROVIDERS)


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
                else under_root(provider.login_url())
            ),
        }
        for name, provider in providers().items()
    ]


def under_root(path: str | None) -> str | None:
    """A provider's path of the server (``/auth/mail/request``) under the prefix the
    server is mounted at (``/labvault/auth/mail/request``); any other URL as it is."""
    if path is None or not path.startswith("/") or path.startswith("//"):
        return path
    return request.script_root + path


def redirect_provider(instance: str) -> AuthProvider:
    provider = providers().get(instance)
    if provider is None or not provider.redirects:
        raise NotFound(f"no sign-in provider {instance!r} that redirects is enabled")
    return provider


def external_url(endpoint: str, **values: Any) -> str:
    """The absolute URL of a route, under PUBLIC_URL (never the request's host)."""
    path = url_for(endpoint, **values)[len(request.script_root) :]
    return urls.external_url(path, settings()["PUBLIC_URL"])


def _to_provider(
    provider: AuthProvider, *, next_url: str | None, link_user_id: int | None
) -> Response:
    """Start the flow in this browser: its cookie set, a redirect to the provider (or,
    for JSON, the provider's URL)."""
    nonce = browser.browser_nonce()
    url = flows.start_login(
        get_session(),
        provider,
        redirect_uri=external_url("signin.callback", instance=provider.instance_name),
        next_url=next_url,
        link_user_id=link_user_id,
        browser=flows.fingerprint(nonce),
    )
    response = jsonify(_authorization(url)) if wants_json() else redirect(url, 302)
    response.headers["Cache-Control"] = "no-store"
    return browser.bind(response, nonce)


def _authorization(url: str) -> dict[str, Any]:
    return {"authorization_url": url, "expires_in": int(flows.LOGIN_LIFETIME.total_seconds())}


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

    The sign-in belongs to this browser (a cookie) and must be finished within 10
    minutes. With Accept: application/json (scripts, this page) the answer is a URL to
    open in the browser that is to sign in; it works once. With link=true (and your
    bearer token) the provider's identity is added to your account instead, once you
    confirm it on the page the sign-in ends on.
    """
    provider = redirect_provider(instance)
    check_rate_limit("signin")
    next_url = urls.check_next_url(query["next"], settings()["ALLOWED_REDIRECT_ORIGINS"])
    link_user_id = None
    if query["link"]:
        user = current_user()
        if user is None:
            raise Unauthenticated("linking needs your bearer token: you are not signed in")
        link_user_id = user.id
    if wants_json():
        held = flows.hold_login(
            get_session(), provider, next_url=next_url, link_user_id=link_user_id
        )
        return _authorization(external_url("signin.resume", instance=instance, flow=held))
    return _to_provider(provider, next_url=next_url, link_user_id=link_user_id)


@blp.route("/<instance>/continue")
@document_rate_limit(blp, "signin")
@blp.doc(security=[])
@blp.arguments(HeldLoginSchema, location="query")
@blp.response(200, AuthorizationUrlSchema, description="with Accept: application/json")
@blp.alt_response(302, description="to the provider's sign-in page")
@blp.alt_response(400, schema="Error", description="unknown, expired or already opened")
def resume(query: dict[str, Any], instance: str) -> Any:
    """Go on with a sign-in a script started, in this browser: a redirect to the provider

    The URL comes from GET /auth/<instance>/login as JSON and works once. The sign-in
    then belongs to the client that opened it (a cookie); asked for JSON, it answers
    the provider's URL instead of redirecting there.
    """
    provider = redirect_provider(instance)
    check_rate_limit("signin")
    held = flows.take_held_login(get_session(), provider, query["flow"])
    return _to_provider(provider, next_url=held["next"], link_user_id=held["link_user_id"])


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

    Only in the browser that started the sign-in. Without next, the answer is a page
    showing the access token to paste into /doc, or the tokens as JSON for 'Accept:
    application/json'. A link ends on a page asking to confirm it instead.
    """
    provider = redirect_provider(instance)
    check_rate_limit("signin")
    params = {key: request.args.get(key, "") for key in request.args}
    allowed = settings()["ALLOWED_REDIRECT_ORIGINS"]
    identity, flow = flows.finish_login(
        get_session(), provider, params, allowed, held_nonce=browser.held_nonce()
    )
    if flow["link_user_id"] is not None:
        question = linking.ask_to_link(get_session(), provider, identity, flow)
        page = form_page(
            _CONFIRM,
            "Add a way to sign in to labvault",
            redirects_to=[question.next_origin] if question.next_origin else [],
            provider=question.provider,
            identity=question.identity,
            account=question.account,
            action=url_for("signin.link", instance=instance),
            secret=question.secret,
        )
        # the cookie must outlive the page's own 10 minutes
        return browser.bind(page, browser.browser_nonce())
    return deliver(service.sign_in(get_session(), signer(), provider, identity), flow["next"])


@blp.route("/<instance>/link", methods=["POST"])
@document_rate_limit(blp, "signin")
@blp.doc(security=[])
@blp.arguments(LinkConfirmationSchema, location="form")
@blp.response(200, SessionTokensSchema, description="the tokens (a page unless JSON is asked)")
@blp.alt_response(302, description="to next, the tokens in the URL fragment")
@blp.alt_response(400, schema="Error", description="unknown, used, or of another browser")
@blp.alt_response(403, schema="Error", description="sent from another site's page")
def link(form: dict[str, Any], instance: str) -> Any:
    """Confirm adding an identity to your account: the button of the page a link ends on

    Only from this server's page (its Origin), in the browser that started the link.
    """
    provider = redirect_provider(instance)
    check_rate_limit("signin")
    tokens, next_url = linking.confirm_link(
        get_session(),
        signer(),
        provider,
        form["confirmation"],
        settings()["ALLOWED_REDIRECT_ORIGINS"],
        held_nonce=browser.held_nonce(),
    )
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
