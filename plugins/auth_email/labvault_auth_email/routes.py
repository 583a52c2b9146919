"""The routes of one email-link instance: request a link, open it, spend it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import marshmallow as ma
from flask import request
from flask.views import MethodView
from labvault.plugin import Blueprint, DomainError
from marshmallow import fields, validate

from labvault_auth_email.pages import INVALID_LINK, confirm_page, invalid_link_page

if TYPE_CHECKING:
    from labvault_auth_email.provider import EmailLinkProvider

#: The one answer to every accepted request, whether a mail goes out or not.
REQUEST_ACCEPTED = "if this address may sign in here, a link is on its way"


class LinkRequestSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    email = fields.Email(
        required=True,
        validate=validate.Length(max=254),
        metadata={"description": "the address to send the sign-in link to"},
    )
    next = fields.String(
        load_default=None,
        validate=validate.Length(max=2000),
        metadata={
            "description": "where to send the tokens (in the URL fragment) once the link is "
            "used; its origin must be in ALLOWED_REDIRECT_ORIGINS"
        },
    )

    @ma.pre_load
    def _strip_email(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("email"), str):
            return {**data, "email": data["email"].strip()}
        return data


class LinkRequestedSchema(ma.Schema):
    message = fields.String()


class LinkTokenSchema(ma.Schema):
    class Meta:
        # mail gateways may append tracking parameters to a link; they are not errors
        unknown = ma.EXCLUDE

    token = fields.String(load_default="", metadata={"description": "the link's secret"})


class InvalidLink(DomainError):
    """A link that is unknown, expired or already used (400)."""

    status = 400


def _wants_json() -> bool:
    accept = request.accept_mimetypes
    return accept.best_match(["text/html", "application/json"]) == "application/json"


def _refuse_link() -> Any:
    if _wants_json():
        raise InvalidLink(INVALID_LINK)
    return invalid_link_page()


def build_blueprint(provider: EmailLinkProvider) -> Blueprint:
    """The routes under ``/auth/<instance>``, in a blueprint named after the instance."""
    instance = provider.instance_name
    blp = Blueprint(
        f"auth_email_{instance}",
        __name__,
        url_prefix=f"/auth/{instance}",
        description=f"Signing in with a link sent by mail ({provider.label})",
    )

    @blp.route("/request", methods=["POST"])
    @blp.doc(security=[])
    @blp.arguments(LinkRequestSchema)
    @blp.response(202, LinkRequestedSchema)
    @blp.alt_response(429, description="too many requests from your network address")
    def request_link(body: dict[str, Any]) -> Any:
        """Send a sign-in link to an address

        The answer is the same whether a mail goes out or not: only an address that may
        sign in here gets a link, at most a few per hour.
        """
        provider.request_link(body["email"], body["next"], request.remote_addr or "unknown")
        return {"message": REQUEST_ACCEPTED}

    @blp.route("/verify")
    class Verify(MethodView):
        @blp.doc(security=[])
        @blp.arguments(LinkTokenSchema, location="query")
        @blp.response(200, content_type="text/html", description="a page to confirm")
        @blp.alt_response(400, description="the link is unknown, expired or used")
        @blp.alt_response(429, description="too many sign-in attempts from your address")
        def get(self, query: dict[str, Any]) -> Any:
            """Open a sign-in link: a page whose button signs you in

            Opening the link does not use it up (mail scanners open links too).
            """
            link = provider.pending_link(query["token"])
            if link is None:
                return _refuse_link()
            action = request.script_root + request.path
            return confirm_page(email=link["email"], token=query["token"], action=action)

        @blp.doc(security=[])
        @blp.arguments(LinkTokenSchema, location="form")
        @blp.response(200, description="the tokens (a page unless JSON is asked)")
        @blp.alt_response(302, description="to next, the tokens in the URL fragment")
        @blp.alt_response(400, description="the link is unknown, expired or used")
        @blp.alt_response(429, description="too many sign-in attempts from your address")
        def post(self, form: dict[str, Any]) -> Any:
            """Use a sign-in link (once) and sign in"""
            link = provider.spend_link(form["token"])
            if link is None:
                return _refuse_link()
            identity = provider.identity(link["email"])
            return provider.host.sign_in_response(identity, next_url=link["next"])

    return blp
