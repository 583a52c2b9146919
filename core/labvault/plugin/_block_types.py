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

    **What the core checks before** :meth:`compute` (a block type need not check it again):

    - ``data`` loads with ``DataSchema``; otherwise the create or change is refused (422,
      the schema's messages under ``data``) and nothing is stored;
    - at most ``max_files`` files (422 under ``file_ids``, nothing stored);
    - every file is attached to the block's item (422 under ``file_ids``);
    - every file's name ends in one of ``accepted_file_extensions`` (when it lists any,
      compared lowercase): otherwise the block is stored without calling ``compute``,
      with ``computed`` empty and an ``error`` naming the files and the extensions read.

    **Failures.** A :class:`~labvault.plugin.ProcessingError` raised by :meth:`compute`
    becomes the block's ``error`` (``computed`` empty), its message shown as it is; any
    other exception is taken for a bug of the type: it is logged with its traceback and
    the ``error`` says only that the type failed. A failure in :meth:`render_png` is
    stored the same way, as the block's ``error`` (its ``computed`` kept, its ``version``
    and ETag new), and ``GET .../plot.png`` of a block with an ``error`` answers 409
    with it; never a 500. The error stays until the block is changed or computed again.

    **Caching.** :meth:`render_png` is called once per block and content: the PNG is kept
    in the file store under a key of the type's ``name``, ``version`` and options, the
    block's ``data`` and ``computed`` and its files' names and sha256 (not its title),
    and served again with that key (an HMAC under ``SECRET_KEY``) as ETag until the key
    changes. So a rendering must depend on nothing else (no clock, no outside state).
    :meth:`compute` runs when a block is created or changed, and when it is read after a
    ``version`` change (below).

    **Versions.** The core keeps the ``version`` that computed each block. A block
    computed by another version (or before this was kept) is computed again when it is
    next read (``GET`` of the block, of its item's blocks or of its plot), one block at
    a time: not at startup and not all at once. The block then gets a new ``version``
    (and ETag) and its plot is drawn again.
    """

    #: Version of the block type: bump it when ``DataSchema`` changes or ``compute`` or
    #: ``render_png`` would make something else of the same block; stored blocks are then
    #: computed again as they are read, and their plots drawn again.
    version: ClassVar[str] = "1"
    #: File extensions (lowercase, with the dot) the block type can read, e.g. ``[".csv"]``;
    #: empty: any. A block with another file is stored with an error, never computed.
    accepted_file_extensions: ClassVar[tuple[str, ...]] = ()
    #: Marshmallow schema of the block's client-written ``data``; data it refuses is a 422.
    DataSchema: ClassVar[type[ma.Schema]] = EmptySchema

    #: Most files a block of this type takes (``None``: no limit); more is a 422.
    max_files: ClassVar[int | None] = None

    def compute(self, data: Mapping[str, Any], files: list[BlockFile]) -> dict[str, Any]:
        """Derive results from the block's data and files; stored as ``computed``.

        ``data`` is what ``DataSchema`` loaded; ``files`` are the block's files in its
        order, all of the accepted extensions and at most ``max_files``. Must return
        JSON-serializable values. Raise :class:`labvault.plugin.ProcessingError` with a
        message for the user when a file cannot be parsed; the core stores it as the
        block's ``error``. Another exception is logged and not shown to the user.
        """
        return {}

    def render_png(
        self, data: Mapping[str, Any], computed: Mapping[str, Any], files: list[BlockFile]
    ) -> bytes | None:
        """A PNG picture of the block (``GET .../blocks/<id>/plot.png``), or None if none.

        Called only for a block without ``error``, and once per content (see the class):
        the picture, or None, is kept. Raise :class:`labvault.plugin.ProcessingError`
        when it cannot be drawn; as in :meth:`compute`, its message becomes the block's
        ``error`` (another exception is logged, not shown) and the plot a 409.
        """
        return None
