"""The REST API: flask-smorest, OpenAPI at /openapi.json, Swagger UI at /doc.

Swagger UI's files are served by labvault itself, so /doc works without internet; with
API_DOCS off, neither /doc nor /openapi.json is served. The server may be mounted under a
path prefix (``/labvault``: the WSGI ``SCRIPT_NAME``, or a trusted
``X-Forwarded-Prefix``), so whatever names one of its URLs is built per request from the
request's root: /doc's files and spec, and the spec's ``servers``, through which "Try it
out" calls the API. The same server then answers right both directly and through a
proxy that adds the prefix.

Every response carries the security headers of :mod:`labvault.web.headers`. Every
error, including 404, 405, 413 and unexpected 500s, is a JSON body with the headers its
status calls for (``Allow`` on 405); the domain errors services raise
(:mod:`labvault.errors`) are answered here, in one place. Requests pass the web layer's
bounds (:mod:`labvault.web.bounds`) before a handler runs, and their bodies the parser of
:mod:`labvault.gate`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import flask_swagger_ui
from flask import (
    Flask,
    Response,
    current_app,
    json,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_cors import CORS
from flask_smorest import Api
from flask_smorest.spec import openapi_cli
from werkzeug.exceptions import HTTPException, InternalServerError, RequestEntityTooLarge
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.middleware.proxy_fix import ProxyFix

from labvault import API_VERSION, web
from labvault.db import fault_of, first_line
from labvault.errors import DomainError
from labvault.settings import FORWARDED_HEADERS
from labvault.web.bounds import (
    BoundedIntegerConverter,
    BoundedRequest,
    ContractPlugin,
    bounded_integer_parameter,
    refuse_nul_characters,
)
from labvault.web.headers import init_security_headers

SWAGGER_ASSETS = Path(flask_swagger_ui.__file__).parent / "dist"
#: Where Swagger UI's files are, under the server's root (and any prefix it is mounted at).
SWAGGER_ASSET_URL = "/doc/assets/"
#: flask-smorest's endpoint of the Swagger UI page (its doc blueprint is "api-docs")
SWAGGER_UI_ENDPOINT = "api-docs.openapi_swagger_ui"
SECURITY_SCHEME = "bearerAuth"


class LabvaultApi(Api):
    """flask-smorest's Api with a message in every error, domain errors answered with
    their status, and JSON for crashes; its spec and Swagger UI page name URLs under the
    request's path prefix.

    The spec is built on first use (/openapi.json, /doc, a schema converted to JSON
    schema), not with the app: documenting every route is most of what creating the app
    costs, and a worker or a CLI command that is never asked for it need not pay. A
    blueprint is served at once; its documentation is added when the spec is built.
    """

    def __init__(self, app: Flask, *, spec_kwargs: dict[str, Any] | None = None) -> None:
        self._spec_options: dict[str, Any] | None = None
        self._built_spec: Any = None
        self._built_ma_plugin: Any = None
        self._spec_ready = self._spec_building = False
        self._spec_lock = threading.RLock()  # the building thread reads its own spec
        #: (blueprint, name, parameters) of every blueprint, documented in the spec
        self._documented: list[tuple[Any, str, Any]] = []
        #: what else goes into the spec once it is built (security schemes)
        self._spec_additions: list[Callable[[Any], None]] = []
        super().__init__(app, spec_kwargs=spec_kwargs)

    @property
    def spec(self) -> Any:
        """The APISpec, built (once, by whichever thread asks first) on first use."""
        if not self._spec_ready and self._spec_options is not None:
            with self._spec_lock:
                if not self._spec_ready and not self._spec_building:
                    self._spec_building = True
                    try:
                        self._build_spec(self._spec_options)
                    finally:
                        self._spec_building = False
                    self._spec_ready = True
        return self._built_spec

    @spec.setter
    def spec(self, value: Any) -> None:
        self._built_spec = value

    @property
    def ma_plugin(self) -> Any:
        """apispec's marshmallow plugin (its converter turns schemas into JSON schema)."""
        self.spec  # noqa: B018 -- built with the spec
        return self._built_ma_plugin

    @ma_plugin.setter
    def ma_plugin(self, value: Any) -> None:
        self._built_ma_plugin = value

    def _init_spec(self, **options: Any) -> None:
        self._spec_options = options  # built on first use (see spec)
        self._app.cli.add_command(openapi_cli)  # `flask openapi print`, as flask-smorest has

    def _build_spec(self, options: dict[str, Any]) -> None:
        super()._init_spec(**options)
        for blueprint, name, parameters in self._documented:
            self._document(blueprint, name, parameters)
        for addition in self._spec_additions:
            addition(self._built_spec)

    def _document(self, blueprint: Any, name: str, parameters: Any) -> None:
        blueprint.register_views_in_doc(
            self, self._app, self._built_spec, name=name, parameters=parameters
        )
        self._built_spec.tag({"name": name, "description": blueprint.description})

    def add_to_spec(self, addition: Callable[[Any], None]) -> None:
        """Have ``addition(spec)`` called when the spec is built (now, if it is)."""
        self._spec_additions.append(addition)
        if self._spec_ready:
            addition(self._built_spec)

    def register_blueprint(self, blp: Any, *, parameters: Any = None, **options: Any) -> None:
        """Serve ``blp`` now; document it when the spec is built."""
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)
        self._documented.append((blp, name, parameters))
        if self._spec_ready:
            self._document(blp, name, parameters)

    def register_converter(self, converter: Any, func: Any) -> None:
        self._converters.append((converter, func))  # registered when the spec is built
        if self._spec_ready:
            self._register_converter(converter, func)

    def register_field(self, field: Any, *args: Any) -> None:
        self._fields.append((field, *args))  # registered when the spec is built
        if self._spec_ready:
            self._register_field(field, *args)

    def _openapi_json(self) -> Response:
        """The spec, with this request's root as its one server: Swagger UI's "Try it
        out" sends its calls there (relative to the spec's own URL)."""
        document = {**self.spec.to_dict(), "servers": [{"url": request.script_root or "/"}]}
        return current_app.response_class(
            json.dumps(document, indent=2, sort_keys=False), mimetype="application/json"
        )

    def _openapi_swagger_ui(self) -> str:
        """flask-smorest's page, its files under the request's root (the setting
        OPENAPI_SWAGGER_UI_URL is one fixed string)."""
        return render_template(
            "swagger_ui.html",
            title=self.spec.title,
            spec_url=url_for(f"{self._make_doc_blueprint_name()}.openapi_json"),
            swagger_ui_url=request.script_root + SWAGGER_ASSET_URL,
            swagger_ui_config=self.config.get("OPENAPI_SWAGGER_UI_CONFIG", {}),
        )

    def handle_http_exception(self, error: HTTPException) -> Any:
        payload, code, headers = super().handle_http_exception(error)
        if isinstance(error, RequestEntityTooLarge) and isinstance(request, BoundedRequest):
            payload.setdefault("message", request.too_large())
        payload.setdefault("message", error.description)
        # the exception's own headers (Allow on 405, Content-Range on 416), not its HTML type
        headers = {
            **{k: v for k, v in error.get_headers() if k.lower() != "content-type"},
            **(headers or {}),
        }
        return payload, code, headers

    def handle_domain_error(self, error: DomainError) -> Any:
        if error.status >= 500:
            self._app.logger.error("%s: %s", type(error).__name__, error.message)
        return _answer(error)

    def handle_unexpected(self, error: Exception) -> Any:
        fault = fault_of(error)
        if fault is not None:  # the disk or the database, not labvault: said, not traced
            self._app.logger.warning("%s: %s", fault.message, first_line(error))
            return _answer(fault)
        self._app.logger.exception("unhandled error", exc_info=error)
        return self.handle_http_exception(
            InternalServerError("an unexpected error occurred; it has been logged")
        )

    def _register_error_handlers(self) -> None:
        super()._register_error_handlers()
        self._app.register_error_handler(DomainError, self.handle_domain_error)
        self._app.register_error_handler(Exception, self.handle_unexpected)


def _answer(error: DomainError) -> Any:
    """The body, status and headers of a domain error's answer."""
    payload: dict[str, Any] = {
        "code": error.status,
        "status": HTTP_STATUS_CODES[error.status],
        "message": error.message,
    }
    if error.errors:
        payload["errors"] = error.errors
    return payload, error.status, error.headers or {}


def _no_content_type_without_content(response: Response) -> Response:
    if response.status_code in (204, 304):
        response.headers.pop("Content-Type", None)
    return response


def init_api(app: Flask, settings: Mapping[str, Any]) -> Api:
    """The Api with the core's blueprints, Swagger UI's assets, CORS and ProxyFix (the
    X-Forwarded-* headers of PROXY_HEADERS, from PROXY_HOPS proxies)."""
    app.config.update(
        API_TITLE="labvault",
        API_VERSION=API_VERSION,
        OPENAPI_VERSION="3.0.3",
        # API_DOCS off: no /openapi.json and no /doc (the spec is still built: schemas
        # are converted with it)
        OPENAPI_URL_PREFIX="/" if settings["API_DOCS"] else None,
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/doc",
        OPENAPI_SWAGGER_UI_URL=SWAGGER_ASSET_URL,
        # validatorUrl: null keeps Swagger UI from calling an online validator
        OPENAPI_SWAGGER_UI_CONFIG={"persistAuthorization": True, "validatorUrl": None},
        API_SPEC_OPTIONS={
            "info": {
                "description": "Lab records over REST. Authorize with a bearer token: "
                "an access token (JWT) or a personal API key."
            },
            "security": [{SECURITY_SCHEME: []}],
        },
    )
    # ids in paths: only what a database can hold matches a route
    app.url_map.converters["int"] = BoundedIntegerConverter
    app.before_request(refuse_nul_characters)
    app.after_request(_no_content_type_without_content)
    api = LabvaultApi(app, spec_kwargs={"extra_plugins": [ContractPlugin()]})
    api.register_converter(BoundedIntegerConverter, bounded_integer_parameter)
    api.add_to_spec(
        lambda spec: spec.components.security_scheme(
            SECURITY_SCHEME, {"type": "http", "scheme": "bearer", "bearerFormat": "JWT or API key"}
        )
    )
    for blueprint in web.blueprints():
        api.register_blueprint(blueprint)

    if settings["API_DOCS"]:

        @app.route(f"{SWAGGER_ASSET_URL}<path:filename>")
        def swagger_asset(filename: str) -> Any:
            return send_from_directory(SWAGGER_ASSETS, filename, max_age=86400)

    init_security_headers(app, doc_endpoint=SWAGGER_UI_ENDPOINT)

    if settings["CORS_ORIGINS"]:
        CORS(app, origins=settings["CORS_ORIGINS"], expose_headers=["ETag", "X-Pagination"])
    if settings["PROXY_HOPS"]:
        # each argument is how many values of a header, from the right, ProxyFix trusts
        trusted = set(settings["PROXY_HEADERS"])
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app,
            **{
                argument: settings["PROXY_HOPS"] if header in trusted else 0
                for header, argument in FORWARDED_HEADERS.items()
            },
        )
    return api
