"""What the tests do through the API: make a cell and its cycling runs, change them with
If-Match, list them."""

from __future__ import annotations

from typing import Any

#: Every database a test whose SQL differs between them runs on.
DATABASES = ["sqlite", "mariadb", "postgresql"]


def create(client: Any, user: Any, **body: Any) -> dict[str, Any]:
    """POST /items; the created item."""
    response = client.post("/items", json=body, headers=user.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    created: dict[str, Any] = response.json
    return created


def new_cell(client: Any, user: Any, name: str = "coin cell 1") -> str:
    refcode: str = create(client, user, type="cell", name=name, cell_format="coin")["refcode"]
    return refcode


def new_run(client: Any, user: Any, cell: str, **fields: Any) -> dict[str, Any]:
    return create(client, user, type="cycling_run", cell=cell, **fields)


def patch(client: Any, user: Any, refcode: str, changes: dict[str, Any]) -> Any:
    """PATCH /items/<refcode> with the ETag the user reads just before."""
    etag = client.get(f"/items/{refcode}", headers=user.headers).headers["ETag"]
    return client.patch(
        f"/items/{refcode}", json=changes, headers={**user.headers, "If-Match": etag}
    )


def listed(client: Any, user: Any, **query: Any) -> list[str]:
    """The names GET /items lists with ``query``, in its order."""
    response = client.get("/items", query_string=query, headers=user.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return [item["name"] for item in response.json]
