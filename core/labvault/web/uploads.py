"""The request class that streams uploaded files straight into the file store.

werkzeug writes each uploaded part to a temporary file of its own before the view runs;
the view would then copy it into the store, writing every upload twice. With
:class:`UploadRequest` werkzeug writes the part into a writer of the store
(:class:`~labvault.plugin.ContentWriter`: for the ``local`` store a temp file in its
``tmp/``; for an object store an upload in parts) instead, hashed as it arrives, so the
upload route only keeps it. Parts nobody keeps (those of other routes, rejected uploads,
uploads cut off by a disconnect or by MAX_CONTENT_LENGTH) are discarded when the request
ends.

A writer that cannot be read back (an upload to an object store) is used only for the
routes that keep uploads in the store (:func:`streams_into_store`); other routes that
read an uploaded file (an inventory import) get werkzeug's temporary file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any, TypeVar, cast

from flask import current_app
from werkzeug.utils import cached_property

from labvault.plugin import ContentWriter
from labvault.web.bounds import BoundedRequest
from labvault.web.state import file_store

View = TypeVar("View", bound=Callable[..., Any])
_STREAMS_INTO_STORE = "_labvault_streams_into_store"


def streams_into_store(view: View) -> View:
    """Mark a view that keeps its uploaded files in the file store (and reads nothing of
    them before): its uploads go straight into the store, whatever its kind."""
    setattr(view, _STREAMS_INTO_STORE, True)
    return view


class UploadRequest(BoundedRequest):
    """The gate's request (bodies bounded by their kind), with uploaded files written
    into the file store."""

    @cached_property
    def _temp_contents(self) -> list[ContentWriter]:
        return []

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        writer = file_store().writer()
        if not (writer.readable() or self._view_streams_into_store()):
            writer.discard()
            return super()._get_file_stream(
                total_content_length, content_type, filename, content_length
            )
        self._temp_contents.append(writer)
        return cast(IO[bytes], writer)

    def _view_streams_into_store(self) -> bool:
        view = current_app.view_functions.get(self.endpoint or "")
        marked = (view, getattr(view, "view_class", None))  # a MethodView's class
        return any(getattr(each, _STREAMS_INTO_STORE, False) for each in marked)

    def close(self) -> None:
        try:
            super().close()
        finally:
            for temp in self.__dict__.get("_temp_contents", ()):
                temp.discard()
