"""Small helpers the record tests share: create items, send If-Match, check errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa


def with_etag(user: Any, etag: str | None) -> dict[str, str]:
    """The user's bearer headers, plus If-Match when an ETag is given."""
    headers = dict(user.headers)
    if etag is not None:
        headers["If-Match"] = etag
    return headers


def create_item(client: Any, user: Any, **fields: Any) -> dict[str, Any]:
    """POST /items (a sample unless ``type`` says otherwise); the created item."""
    response = client.post("/items", json={"type": "sample", **fields}, headers=user.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    body: dict[str, Any] = response.json
    return body


def current_etag(client: Any, user: Any, refcode: str) -> str:
    response = client.get(f"/items/{refcode}", headers=user.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    etag: str = response.headers["ETag"]
    return etag


def patch_item(client: Any, user: Any, refcode: str, changes: Any) -> Any:
    """PATCH /items/<refcode> with the ETag the user reads just before."""
    etag = current_etag(client, user, refcode)
    return client.patch(f"/items/{refcode}", json=changes, headers=with_etag(user, etag))


def assert_error(
    response: Any, code: int, field: str | None = None, *, location: str = "json"
) -> dict[str, Any]:
    """A JSON error answer with that code, a message and, if given, an error for ``field``
    among the errors of ``location`` (json, query, files)."""
    assert response.status_code == code, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body: dict[str, Any] = response.json
    assert body["code"] == code and body["message"] and body["status"]
    if field is not None:
        assert field in body["errors"][location], body
    return body


@contextmanager
def statements(app: Any) -> Iterator[list[str]]:
    """The SQL statements the app sends to its database inside the block (an executemany
    counts once: it is one round trip of the driver)."""
    sent: list[str] = []
    engine = app.extensions["labvault"].database.engine

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)
