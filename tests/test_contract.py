"""The API keeps its contract: input it does not take is a clear 4xx before any handler
runs (:mod:`labvault.gate`), and /openapi.json says what the server does.

Each 500 an outside fuzzing run found has a regression test here, on every database;
the document's promises (bounded integers, the gate's and If-Match's answers, per-type
item bodies, no content on 204) are checked over every operation, so a new route keeps
them too. tests/test_fuzz.py runs schemathesis against a served app.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from labvault.app import create_app
from labvault.gate import MAX_JSON_DEPTH
from labvault.items.types import builtin_types
from labvault.schemas import MAX_INT
from labvault.web.bounds import IF_MATCH_SCHEMA

from tests.plugin_dists import app_settings
from tests.records import assert_error, create_item, with_etag

HUGE = 2**63  # one past what a signed 64-bit column holds
JSON_HEADERS = {"Content-Type": "application/json"}


@pytest.fixture
def owner(shared_app, labvault_make_user):
    return labvault_make_user(shared_app)


def post_raw(client: Any, path: str, user: Any, raw: str | bytes, **headers: str) -> Any:
    return client.post(path, data=raw, headers={**user.headers, **JSON_HEADERS, **headers})


# --- integers a database cannot hold -------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        f"/files/{HUGE}",
        f"/files/{MAX_INT + 1}/content",
        f"/users/{HUGE}",
        f"/items/lab:AAAAAA/versions/{HUGE}",
        f"/items/lab:AAAAAA/blocks/{MAX_INT + 1}",
    ],
)
def test_ids_beyond_what_a_database_holds_are_404(shared_app, owner, path):
    assert_error(shared_app.test_client().get(path, headers=owner.headers), 404)


def test_an_api_key_id_beyond_range_is_404(shared_app, owner):
    response = shared_app.test_client().delete(f"/users/me/api-keys/{HUGE}", headers=owner.headers)
    assert_error(response, 404)


@pytest.mark.parametrize(
    "query, field",
    [
        (f"page={HUGE}", "page"),
        (f"page={MAX_INT + 1}&page_size=100", "page"),
        (f"page_size={HUGE}", "page_size"),
        (f"creator={HUGE}", "creator"),
        ("creator=0", "creator"),
    ],
)
def test_query_integers_out_of_range_are_422(shared_app, owner, query, field):
    response = shared_app.test_client().get(f"/items?{query}", headers=owner.headers)
    assert_error(response, 422, field, location="query")


def test_the_last_page_a_database_can_reach_is_an_empty_page(shared_app, owner):
    client = shared_app.test_client()
    create_item(client, owner)
    response = client.get(f"/items?page={MAX_INT}&page_size=100", headers=owner.headers)
    assert response.status_code == 200 and response.json == []
    assert json.loads(response.headers["X-Pagination"])["total"] == 1


def test_ids_in_bodies_out_of_range_are_422(shared_app, owner):
    client = shared_app.test_client()
    response = client.post(
        "/items", json={"type": "sample", "creators": [HUGE]}, headers=owner.headers
    )
    assert_error(response, 422, "creators")
    item = create_item(client, owner)
    blocks = f"/items/{item['refcode']}/blocks"
    too_big = {"block_type": "comment", "data": {"text": "x"}, "file_ids": [HUGE]}
    assert_error(client.post(blocks, json=too_big, headers=owner.headers), 422, "file_ids")
    order = client.put(f"{blocks}/order", json={"block_ids": [HUGE]}, headers=owner.headers)
    assert_error(order, 422, "block_ids")
    share = {"collection_id": "c1", "shares": [{"user_id": HUGE, "permission": "read"}]}
    assert_error(client.post("/collections", json=share, headers=owner.headers), 422, "shares")


def test_json_numbers_as_text_or_fractions_are_not_ids(shared_app, owner):
    client = shared_app.test_client()
    for creators in (["1"], [1.5], [True]):
        response = client.post(
            "/items", json={"type": "sample", "creators": creators}, headers=owner.headers
        )
        assert_error(response, 422, "creators")


# --- JSON no client meant --------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, reason",
    [
        ('{"type": "sample", "name": "\\udc00"}', "surrogate"),
        ('{"type": "sample", "name": "a\\ud800b"}', "surrogate"),
        ('{"type": "sample", "\\udfff": 1}', "surrogate"),
        ('{"type": "sample", "name": "x", "date": NaN}', "NaN"),
        ('{"type": "sample", "x": ' + "[" * 1000 + "]" * 1000 + "}", "nested"),
        (
            '{"type": "sample", "x": '
            + "[" * (MAX_JSON_DEPTH + 1)
            + "]" * (MAX_JSON_DEPTH + 1)
            + "}",
            "nested",
        ),
        ('{"type": "sample", "creators": [' + "9" * 5000 + "]}", "number longer"),
        ('{"type": "sample", "name": ', "not valid JSON"),
    ],
)
def test_json_no_client_meant_is_400_and_stores_nothing(shared_app, owner, raw, reason):
    client = shared_app.test_client()
    body = assert_error(post_raw(client, "/items", owner, raw), 400)
    assert reason in body["message"]
    assert client.get("/items", headers=owner.headers).json == []


@pytest.mark.parametrize(
    "path",
    ["/items?status=a%00b", "/items?q=eth%00anol", "/items?a%00=1", "/items/test:AB%00CD"],
)
def test_a_nul_character_in_the_url_is_422(shared_app, owner, path):
    """PostgreSQL refuses even to compare text with NUL: it was a 500 there."""
    answer = shared_app.test_client().get(path, headers=owner.headers)
    assert_error(answer, 422)
    assert "NUL" in answer.json["message"]


def test_a_nul_character_in_a_json_string_is_422_and_stores_nothing(shared_app, owner):
    client = shared_app.test_client()
    answer = post_raw(client, "/items", owner, '{"type": "sample", "name": "a\\u0000b"}')
    assert_error(answer, 422)
    assert "NUL" in answer.json["message"]
    assert client.get("/items", headers=owner.headers).json == []


def test_a_paired_surrogate_is_an_emoji_and_kept(shared_app, owner):
    client = shared_app.test_client()
    response = post_raw(client, "/items", owner, '{"type": "sample", "name": "\\ud83e\\uddea"}')
    assert response.status_code == 201, response.json
    assert response.json["name"] == "\N{TEST TUBE}"


def test_a_body_not_utf8_is_400(shared_app, owner):
    response = post_raw(shared_app.test_client(), "/items", owner, b'{"name": "\xff"}')
    assert "UTF-8" in assert_error(response, 400)["message"]


# --- media types and multipart fields ---------------------------------------------------


def test_a_body_in_another_media_type_is_415_not_a_missing_field(shared_app, owner):
    client = shared_app.test_client()
    body = '{"type": "sample"}'
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        response = client.post(
            "/items", data=body, headers={**owner.headers, "Content-Type": content_type}
        )
        assert "application/json" in assert_error(response, 415)["message"]
    no_type = client.post("/items", data=body, headers=owner.headers)
    assert_error(no_type, 415)
    empty = client.post("/items", headers=owner.headers)  # no body at all: what is missing
    assert_error(empty, 422, "type")


def test_unknown_multipart_fields_are_422_like_unknown_json_fields(shared_app, owner):
    import io

    client = shared_app.test_client()
    refcode = create_item(client, owner)["refcode"]
    for extra in ({"comment": "a text field"}, {"other": (io.BytesIO(b"x"), "b.txt")}):
        response = client.post(
            f"/items/{refcode}/files",
            data={"file": (io.BytesIO(b"data"), "a.txt"), **extra},
            content_type="multipart/form-data",
            headers=owner.headers,
        )
        (name,) = extra
        assert_error(response, 422, name, location="files")
    # a part whose name werkzeug cannot parse (found by schemathesis: a 500 once)
    boundary = "b0undary"
    raw = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="x\x1d\\"\r\n\r\n1\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="y"\r\n\r\n2\r\n--{boundary}--\r\n'
    )
    response = client.post(
        f"/items/{refcode}/files",
        data=raw.encode(),
        headers={**owner.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert sorted(assert_error(response, 422)["errors"]["files"]) == ["", "file", "y"]
    assert client.get(f"/items/{refcode}/files", headers=owner.headers).json == []


# --- Range, 405, 204 --------------------------------------------------------------------


def test_ranges_the_server_does_not_serve_are_ignored_as_rfc_9110_says(shared_app, owner):
    import io

    client = shared_app.test_client()
    refcode = create_item(client, owner)["refcode"]
    content = b"0123456789"
    uploaded = client.post(
        f"/items/{refcode}/files",
        data={"file": (io.BytesIO(content), "digits.txt")},
        content_type="multipart/form-data",
        headers=owner.headers,
    ).json
    url = f"/files/{uploaded['id']}/content"

    def get(range_header: str) -> Any:
        return client.get(url, headers={**owner.headers, "Range": range_header})

    for ignored in ("bytes=abc", "lines=0-1", "bytes=0-1,4-5", "bytes=5-2", ""):
        response = get(ignored)
        assert (response.status_code, response.data) == (200, content), ignored
    partial = get("bytes=2-4")
    assert (partial.status_code, partial.data) == (206, b"234")
    beyond = get("bytes=50-60")
    assert_error(beyond, 416)
    assert beyond.headers["Content-Range"] == "bytes */10"


def test_405_names_the_methods_that_are_allowed(shared_app, owner):
    response = shared_app.test_client().put("/items", headers=owner.headers)
    assert_error(response, 405)
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_204_answers_have_no_content_type(shared_app, owner):
    client = shared_app.test_client()
    item = create_item(client, owner)
    etag = client.get(f"/items/{item['refcode']}", headers=owner.headers).headers["ETag"]
    response = client.delete(f"/items/{item['refcode']}", headers=with_etag(owner, etag))
    assert response.status_code == 204 and response.data == b""
    assert "Content-Type" not in response.headers


# --- the document -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    app = create_app(app_settings(tmp_path_factory.mktemp("spec")))
    try:
        return app.test_client().get("/openapi.json").json
    finally:
        app.extensions["labvault"].database.dispose()


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
        if method != "parameters"
    ]


def parameters_of(spec: dict[str, Any], path: str, operation: dict[str, Any]) -> list[Any]:
    parameters = [*spec["paths"][path].get("parameters", []), *operation.get("parameters", [])]
    return [resolve(spec, parameter) for parameter in parameters]


def resolve(spec: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        *_, kind, name = node["$ref"].split("/")
        node = spec["components"][kind][name]
    return node


def request_integers(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(where, schema) of every integer a request may carry: parameters and bodies."""
    found: list[tuple[str, dict[str, Any]]] = []

    def walk(where: str, schema: Any, seen: frozenset[str]) -> None:
        if isinstance(schema, dict) and "$ref" in schema:
            if schema["$ref"] in seen:
                return
            seen = seen | {schema["$ref"]}
        schema = resolve(spec, schema)
        if not isinstance(schema, dict) or schema.get("readOnly"):
            return
        if schema.get("type") == "integer":
            found.append((where, schema))
        for name, sub in schema.get("properties", {}).items():
            walk(f"{where}.{name}", sub, seen)
        for key in ("items", "additionalProperties"):
            if isinstance(schema.get(key), dict):
                walk(f"{where}[]", schema[key], seen)
        for key in ("oneOf", "anyOf", "allOf"):
            for sub in schema.get(key, []):
                walk(where, sub, seen)

    for path, method, operation in operations(spec):
        for parameter in parameters_of(spec, path, operation):
            walk(f"{method} {path} {parameter['name']}", parameter.get("schema"), frozenset())
        for media, body in operation.get("requestBody", {}).get("content", {}).items():
            walk(f"{method} {path} ({media})", body.get("schema"), frozenset())
    return found


def test_every_integer_a_request_carries_is_bounded_to_what_databases_hold(spec):
    integers = request_integers(spec)
    assert len(integers) >= 10  # the walk reaches parameters and bodies
    unbounded = [
        where
        for where, schema in integers
        if not (schema.get("minimum", -1) >= 0 and schema.get("maximum", MAX_INT + 1) <= MAX_INT)
    ]
    assert unbounded == []


def test_every_operation_documents_the_gate_and_if_match_answers(spec):
    problems = []
    for path, method, operation in operations(spec):
        responses = operation["responses"]
        body = operation.get("requestBody")
        expected = set()
        if body:
            expected |= {"413", "415"}
            if "application/json" in body["content"]:
                expected.add("400")
        if any(p["name"] == "If-Match" for p in parameters_of(spec, path, operation)):
            expected |= {"412", "428"}
        problems += [f"{method} {path}: {s}" for s in sorted(expected - set(responses))]
        if "204" in responses and "content" in responses["204"]:
            problems.append(f"{method} {path}: 204 has content")
    assert problems == []
    assert {"412", "428"} <= set(spec["paths"]["/items/{refcode}"]["patch"]["responses"])


def test_if_match_operations_are_the_ones_that_answer_428_without_it(shared_app, owner, spec):
    client = shared_app.test_client()
    refcode = create_item(client, owner)["refcode"]
    response = client.patch(f"/items/{refcode}", json={"name": "x"}, headers=owner.headers)
    assert_error(response, 428)
    empty = client.patch(
        f"/items/{refcode}", json={"name": "x"}, headers={**owner.headers, "If-Match": ""}
    )
    assert_error(empty, 428)  # names no version: as good as none, as the document says
    users = spec["paths"]["/users/{user_id}"]["patch"]
    for parameter in parameters_of(spec, "/users/{user_id}", users):
        if parameter["name"] == "If-Match":  # flask-smorest's, as strict as labvault's
            assert parameter["schema"] == IF_MATCH_SCHEMA
    patch = spec["paths"]["/items/{refcode}"]["patch"]
    assert any(p["name"] == "If-Match" and p["required"] for p in patch["parameters"])


def test_item_bodies_are_documented_per_type_as_the_server_takes_them(spec, subtests):
    body = spec["paths"]["/items"]["post"]["requestBody"]["content"]["application/json"]
    union = body["schema"]
    mapping = union["discriminator"]["mapping"]
    assert union["discriminator"]["propertyName"] == "type"
    catalogue = builtin_types()  # the app of these tests has no plugin
    assert sorted(mapping) == sorted(catalogue)
    assert sorted(ref["$ref"] for ref in union["oneOf"]) == sorted(mapping.values())
    for item_type, ref in mapping.items():
        with subtests.test(item_type=item_type):
            schema = resolve(spec, {"$ref": ref})
            assert schema["properties"]["type"]["enum"] == [item_type]
            assert schema["required"] == ["type"]
            assert schema["additionalProperties"] is False
            takes = set(catalogue.info(item_type).input.fields) | {"type"}
            assert set(schema["properties"]) == takes


def test_a_field_of_another_type_is_refused_as_the_document_says(shared_app, owner):
    client = shared_app.test_client()
    response = client.post(
        "/items", json={"type": "sample", "barcode": "B1"}, headers=owner.headers
    )
    assert_error(response, 422, "barcode")
    created = client.post(
        "/items", json={"type": "starting_material", "barcode": "B1"}, headers=owner.headers
    )
    assert created.status_code == 201 and created.json["barcode"] == "B1"


def test_the_page_header_is_documented_as_json_text_and_sent_as_such(shared_app, owner, spec):
    header = spec["paths"]["/items"]["get"]["responses"]["200"]["headers"]["X-Pagination"]
    schema = resolve(spec, header["content"]["application/json"]["schema"])
    response = shared_app.test_client().get("/items", headers=owner.headers)
    sent = json.loads(response.headers["X-Pagination"])
    assert set(sent) <= set(schema["properties"]) and {"total", "total_exact"} <= set(sent)


def test_downloads_are_documented_in_any_media_type(spec):
    responses = spec["paths"]["/files/{file_id}/content"]["get"]["responses"]
    assert list(responses["200"]["content"]) == ["*/*"]
    assert list(responses["206"]["content"]) == ["*/*"]
