"""Schemas of the sign-in routes and of a user's identities."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate


class ProviderSchema(ma.Schema):
    name = fields.String(metadata={"description": "instance name from AUTH_PROVIDERS"})
    type = fields.String()
    display_name = fields.String()
    login_url = fields.String(
        allow_none=True, metadata={"description": "where signing in with it starts"}
    )


class _Strict(ma.Schema):
    class Meta:
        unknown = ma.RAISE


class LoginQuerySchema(_Strict):
    next = fields.String(
        load_default=None,
        validate=validate.Length(max=2000),
        metadata={
            "description": "where to send the tokens (in the URL fragment) once signed in; "
            "its origin must be in ALLOWED_REDIRECT_ORIGINS"
        },
    )
    link = fields.Boolean(
        load_default=False,
        metadata={
            "description": "add this provider's identity to the signed-in account (send "
            "your bearer token)"
        },
    )


class AuthorizationUrlSchema(ma.Schema):
    authorization_url = fields.String(
        metadata={
            "description": "open this URL (once) in the browser that is to sign in; it "
            "goes on to the provider"
        }
    )
    expires_in = fields.Integer(metadata={"description": "seconds left to finish signing in"})


def _single_use_secret(description: str) -> fields.String:
    return fields.String(
        required=True, validate=validate.Length(max=200), metadata={"description": description}
    )


class HeldLoginSchema(_Strict):
    flow = _single_use_secret("the single-use secret of a sign-in a script started")


class LinkConfirmationSchema(_Strict):
    confirmation = _single_use_secret("the single-use secret of the confirmation page")


class IdentitySchema(ma.Schema):
    id = fields.Integer()
    provider = fields.String(metadata={"description": "instance name from AUTH_PROVIDERS"})
    subject = fields.String(metadata={"description": "the provider's id of you"})
    email = fields.String(allow_none=True)
    email_verified = fields.Boolean()
    display_name = fields.String()
    first_sign_in_at = fields.DateTime()
    last_sign_in_at = fields.DateTime()
