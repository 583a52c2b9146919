"""Block types: the base class and the files a block type is handed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, ClassVar

import marshmallow as ma

from labvault.plugin._types import EmptySchema, PluginType


@dataclass(frozen=True)
class BlockFile:
    """A stored file as a block type sees it; read it with ``host.files.open(sha256)``."""

    id: int
    name: str
    media_type: str
    size: int
    sha256: str

    @property
    def extension(self) -> str:
        """The lowercase extension of ``name`` with its dot (``".csv"``), or ``""``."""
        return PurePath(self.name).suffix.lower()


class BlockType(PluginType):
    """A type of analysis block attached to an item (comment, table, XRD pattern, ...).

    The client writes a block's ``data`` (validated with ``DataSchema``) and ``file_ids``;
    the core then calls :meth:`compute` and stores what it returns as ``computed``.
    """

    #: Version of the block type's data format; bump it when ``DataSchema`` changes.
    version: ClassVar[str] = "1"
    #: File extensions (lowercase, with the dot) the block type can read, e.g. ``[".csv"]``.
    accepted_file_extensions: ClassVar[tuple[str, ...]] = ()
    #: Marshmallow schema of the block's client-written ``data``.
    DataSchema: ClassVar[type[ma.Schema]] = EmptySchema

    #: Most files a block of this type takes (``None``: no limit).
    max_files: ClassVar[int | None] = None

    def compute(self, data: Mapping[str, Any], files: list[BlockFile]) -> dict[str, Any]:
        """Derive results from the block's data and files; stored as ``computed``.

        Must return JSON-serializable values. Raise
        :class:`labvault.plugin.ProcessingError` with a message for the user when a file
        cannot be parsed; the core stores it as the block's ``error``.
        """
        return {}

    def render_png(
        self, data: Mapping[str, Any], computed: Mapping[str, Any], files: list[BlockFile]
    ) -> bytes | None:
        """A PNG picture of the block (``GET .../blocks/<id>/plot.png``), or None if none."""
        return None
