"""The Blueprint of the core's routes: the plugin API's Blueprint (its bodies pass the
gate, :mod:`labvault.gate`), with bounded pages and a pagination header whose total may
be a lower bound (:mod:`labvault.paging` says when).

Every list answers one page and an ``X-Pagination`` header (flask-smorest's, plus
``total_exact``): up to ``COUNT_LIMIT`` rows past the start of the page ``total`` is
exact; beyond, ``total`` is how many were counted, ``total_exact`` is false and
``total_pages``/``last_page`` are left out ("at least this many"). ``next_page`` is
always right.
"""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from functools import wraps
from typing import Any

import marshmallow as ma
from flask import request
from flask_smorest.pagination import PaginationMetadataSchema, PaginationParameters
from flask_smorest.utils import unpack_tuple_response

from labvault.gate import JSON
from labvault.plugin import Blueprint as PluginBlueprint
from labvault.schemas import MAX_INT


class PageMetadataSchema(PaginationMetadataSchema):
    total_exact = ma.fields.Boolean(
        metadata={
            "description": "false when total is a lower bound: at least that many items "
            "match (total_pages and last_page are then absent)"
        }
    )


#: The header is JSON text, so it is described by a media type, not as a simple value.
PAGE_HEADER = {
    "description": "Pagination metadata (JSON text)",
    "content": {JSON: {"schema": PageMetadataSchema}},
}


def page_parameters(default_size: int, max_size: int) -> type[ma.Schema]:
    """The query arguments ``page`` and ``page_size``, bounded so that no page starts
    beyond what a database takes as an OFFSET."""

    class PageParameters(ma.Schema):
        class Meta:
            unknown = ma.EXCLUDE

        page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=MAX_INT))
        page_size = ma.fields.Integer(
            load_default=default_size, validate=ma.validate.Range(min=1, max=max_size)
        )

        @ma.post_load
        def _parameters(self, data: dict[str, int], **_: Any) -> PaginationParameters:
            return PaginationParameters(**data)

    return PageParameters


#: Dumps the X-Pagination header (made once: a schema instance costs more than a dump).
_PAGE_METADATA = PageMetadataSchema()


class Blueprint(PluginBlueprint):
    """The core's blueprints: the gate's request parser (:mod:`labvault.gate`) as the
    plugins' have, bounded pages and a pagination header that may carry a lower-bound
    total. Argument schemas given as classes are made instances once, when the route is
    declared: webargs would make one for every request (copying every field)."""

    def arguments(self, schema: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(schema, type) and issubclass(schema, ma.Schema):
            schema = schema()
        return super().arguments(schema, *args, **kwargs)

    def paginate(
        self, *, page_size: int | None = None, max_page_size: int | None = None
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """The view gets ``pagination_parameters`` (a :class:`labvault.paging.PageRequest`)
        and sets its ``item_count``; the answer gets the ``X-Pagination`` header."""
        defaults = self.DEFAULT_PAGINATION_PARAMETERS
        schema = page_parameters(
            page_size or defaults["page_size"], max_page_size or defaults["max_page_size"]
        )

        parameters = schema()  # one instance for every request

        def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
            @wraps(view)
            def paginated(*args: Any, **kwargs: Any) -> Any:
                page = self.ARGUMENTS_PARSER.parse(parameters, request, location="query")
                result, status, headers = unpack_tuple_response(
                    view(*args, pagination_parameters=page, **kwargs)
                )
                result, headers = self._set_pagination_metadata(page, result, headers)
                return result, status, headers

            doc = deepcopy(getattr(paginated, "_apidoc", {}))
            doc["pagination"] = {
                "parameters": {"in": "query", "schema": schema},
                "response": {422: "UNPROCESSABLE_ENTITY"},
            }
            paginated._apidoc = doc  # type: ignore[attr-defined]
            return paginated

        return decorator

    def _set_pagination_metadata(self, page_params: Any, result: Any, headers: Any) -> Any:
        if headers is None:
            headers = {}
        metadata = page_metadata(page_params)
        headers[self.PAGINATION_HEADER_NAME] = _PAGE_METADATA.dumps(metadata)
        return result, headers

    def _document_pagination_metadata(self, spec: Any, resp_doc: dict[str, Any]) -> None:
        # a copy: apispec writes the schema's $ref into the dict it resolves
        resp_doc.setdefault("headers", {})[self.PAGINATION_HEADER_NAME] = {**PAGE_HEADER}


def page_metadata(page_params: Any) -> dict[str, Any]:
    """flask-smorest's metadata, or with a lower-bound total only what is known."""
    page, size, total = page_params.page, page_params.page_size, page_params.item_count
    exact = getattr(page_params, "total_exact", True)
    if exact:
        metadata: dict[str, Any] = Blueprint._make_pagination_metadata(page, size, total)
    else:
        metadata = {"total": total, "first_page": 1, "page": page}
        if page > 1:
            metadata["previous_page"] = page - 1
        if page * size < total:
            metadata["next_page"] = page + 1
    metadata["total_exact"] = exact
    return metadata
