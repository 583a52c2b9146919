"""The Blueprint plugins serve their routes with (``labvault_blueprints``)."""

from __future__ import annotations

import flask_smorest

from labvault.gate import RequestParser


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint, whose request bodies pass labvault's gate as the
    core's do: a body in another media type is 415, JSON with unpaired surrogates, NaN,
    absurd numbers or nesting is 400, unknown multipart fields are 422."""

    ARGUMENTS_PARSER = RequestParser()
