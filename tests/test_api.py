"""The API skeleton: /info, health, JSON errors, OpenAPI and a self-hosted Swagger UI."""

from __future__ import annotations

import json
import logging
import re
from html.parser import HTMLParser

import pytest
from labvault import API_VERSION, __version__
from labvault.app import create_app
from labvault.search import engine_in_use
from labvault.testing import TEST_SECRET_KEY

from tests.route_coverage import documented_operations, openapi_path

ERROR_KEYS = {"code", "status", "message"}


def test_info_describes_the_server(labvault_make_app):
    app = labvault_make_app(
        IDENTIFIER_PREFIX="grey",
        MAX_CONTENT_LENGTH=1234,
        MAX_JSON_LENGTH=123,
        DEPLOYMENT_METADATA={"maintainer": "Lab IT", "homepage": "https://lab.example.org"},
    )
    response = app.test_client().get("/info")
    assert response.status_code == 200
    body = response.json
    assert body["version"] == __version__
    assert body["api_version"] == API_VERSION
    assert body["plugin_api_version"] == "2.1"
    assert body["identifier_prefix"] == "grey"
    assert body["max_upload_size"] == 1234
    assert body["max_json_size"] == 123
    assert body["deployment"] == {
        "maintainer": "Lab IT",
        "homepage": "https://lab.example.org",
        "issue_tracker": None,
        "source_repository": None,
    }
    assert body["plugins"] == []
    assert body["login_providers"] == []
    assert body["export_formats"] == []  # the core has none of its own
    engine = app.extensions["labvault"].database.engine
    mariadb = "mariadb-mroonga" if engine_in_use(engine) == "mroonga" else "mariadb-innodb-fulltext"
    assert (
        body["search_engine"]
        == {
            "sqlite": "sqlite-fts5",
            "postgresql": "postgresql-gin",
            "mysql": mariadb,
        }[engine.dialect.name]
    )
    assert {"name": "comment", "description": "Free text notes.", "version": "1"} in body[
        "block_types"
    ]


def test_health_probes(shared_client):
    assert shared_client.get("/health/live").json == {"status": "ok", "checks": {}}
    ready = shared_client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json == {"status": "ok", "checks": {"database": "ok"}}


def test_ready_is_503_when_the_database_is_unreachable(tmp_path):
    app = create_app(
        {
            "IDENTIFIER_PREFIX": "lab",
            "SECRET_KEY": TEST_SECRET_KEY,
            "INSTANCE_PATH": str(tmp_path),
            "DATABASE_URL": "mysql+pymysql://root@127.0.0.1:1/none?connect_timeout=2",
        }
    )
    response = app.test_client().get("/health/ready")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "checks": {"database": "unreachable"}}
    assert app.test_client().get("/health/live").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("get", "/no/such/route", 404),
        ("delete", "/info", 405),
        ("put", "/auth/refresh", 405),
    ],
)
def test_errors_are_json_never_html(shared_client, method, path, code):
    response = getattr(shared_client, method)(path)
    assert response.status_code == code
    assert response.mimetype == "application/json"
    assert set(response.json) >= ERROR_KEYS
    assert response.json["code"] == code
    assert response.json["message"]


def test_oversize_body_is_413_json(labvault_make_app):
    client = labvault_make_app(MAX_JSON_LENGTH=100).test_client()
    response = client.post("/auth/refresh", json={"refresh_token": "x" * 500})
    assert response.status_code == 413
    assert response.mimetype == "application/json"
    assert response.json["status"] == "Request Entity Too Large"


def test_malformed_json_is_a_4xx_json_error(shared_client):
    response = shared_client.post(
        "/auth/refresh", data="{not json", content_type="application/json"
    )
    assert response.status_code in (400, 422)
    assert set(response.json) >= ERROR_KEYS


def test_unexpected_exception_is_a_logged_json_500(labvault_make_app, caplog):
    def explode():
        raise RuntimeError("secret internals")

    app = labvault_make_app()  # a route of its own: not the app other tests share
    app.add_url_rule("/explode", view_func=explode)
    with caplog.at_level(logging.ERROR, logger="labvault"):
        response = app.test_client().get("/explode")
    assert response.status_code == 500
    assert response.mimetype == "application/json"
    assert response.json["code"] == 500
    assert "secret internals" not in response.get_data(as_text=True)
    assert any("secret internals" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


def test_every_route_is_in_the_openapi_document(shared_app):
    documented = documented_operations(shared_app)
    undocumented = []
    for rule in shared_app.url_map.iter_rules():
        if rule.endpoint in {"static", "swagger_asset"} or rule.endpoint.startswith("api-docs."):
            continue
        path = openapi_path(rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if (method.lower(), path) not in documented:
                undocumented.append(f"{method} {rule.rule}")
    assert undocumented == []


#: Writes whose URL says everything: they take no request body.
BODILESS = {
    ("post", "/items/{refcode}/versions/{number}/restore"),
    ("post", "/trash/{refcode}/restore"),
    ("post", "/backups/{strategy}"),
    ("put", "/collections/{collection_id}/items/{refcode}"),
}


def test_openapi_documents_schemas_and_bearer_security(shared_client):
    spec = shared_client.get("/openapi.json").json
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT or API key",
    }
    assert spec["security"] == [{"bearerAuth": []}]
    assert spec["paths"]["/info"]["get"]["security"] == []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            assert operation.get("summary"), f"{method} {path} has no summary"
            responses = operation["responses"]
            success = [code for code in responses if code.startswith("2")]
            assert success, f"{method} {path} documents no success response"
            if success != ["204"]:
                assert any("content" in responses[c] for c in success), f"{method} {path}"
            if method in {"post", "patch", "put"} and (method, path) not in BODILESS:
                assert "requestBody" in operation, f"{method} {path} has no request schema"


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.urls += [value for name, value in attrs if name in {"src", "href"} and value]


def test_swagger_ui_is_served_without_any_external_url(shared_client):
    page = shared_client.get("/doc")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.IGNORECASE), html
    parser = _Links()
    parser.feed(html)
    assert len(parser.urls) == 3
    for url in parser.urls:
        assert url.startswith("/doc/assets/")
        asset = shared_client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.data) > 1000
    config = json.loads(re.search(r"override_config = (\{.*?\});", html).group(1))
    assert config["validatorUrl"] is None  # no call to an online validator
    assert config["persistAuthorization"] is True
    assert "/openapi.json" in html


def test_swagger_asset_route_refuses_paths_outside_its_folder(shared_client):
    response = shared_client.get("/doc/assets/../../../../etc/passwd")
    assert response.status_code == 404
    assert response.mimetype == "application/json"


def test_cors_origins_are_honoured(labvault_make_app):
    client = labvault_make_app(CORS_ORIGINS=["https://notebook.example.org"]).test_client()
    allowed = client.get("/info", headers={"Origin": "https://notebook.example.org"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://notebook.example.org"
    other = client.get("/info", headers={"Origin": "https://evil.example.com"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_no_cors_headers_by_default(shared_client):
    response = shared_client.get("/info", headers={"Origin": "https://a.example.org"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_log_file_receives_the_log(labvault_make_app, tmp_path):
    log_file = tmp_path / "labvault.log"
    app = labvault_make_app(LOG_FILE=str(log_file))
    app.logger.warning("hello from the test")
    for handler in app.logger.handlers:
        handler.flush()
    assert "hello from the test" in log_file.read_text()
