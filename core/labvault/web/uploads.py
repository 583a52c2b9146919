"""The request class that streams uploaded files straight into the file store.

werkzeug writes each uploaded part to a temporary file of its own before the view runs;
the view would then copy it into the store, writing every upload twice. With
:class:`UploadRequest` werkzeug writes the part into a
:class:`~labvault.files.storage.TempContent` in the store's ``tmp/`` instead, hashed as
it arrives, so the upload route only renames it into place. Parts nobody keeps (those
of other routes, rejected uploads, uploads cut off by a disconnect or by
MAX_CONTENT_LENGTH) are removed when the request ends.
"""

from __future__ import annotations

from typing import IO, cast

from werkzeug.utils import cached_property

from labvault.files.storage import TempContent
from labvault.web.bounds import BoundedRequest
from labvault.web.state import file_store


class UploadRequest(BoundedRequest):
    """The gate's request (bodies bounded by their kind), with uploaded files written
    into the file store's ``tmp/``."""

    @cached_property
    def _temp_contents(self) -> list[TempContent]:
        return []

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        temp = file_store().open_temp()
        self._temp_contents.append(temp)
        return cast(IO[bytes], temp)

    def close(self) -> None:
        try:
            super().close()
        finally:
            for temp in self.__dict__.get("_temp_contents", ()):
                temp.discard()
