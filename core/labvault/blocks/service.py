"""Blocks: validated by their block type, computed from their files, versioned with the item.

Detaching a file from an item lives here too: a file a block uses cannot be detached.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
from collections.abc import Mapping
from typing import Any

import marshmallow as ma
import sqlalchemy as sa
from sqlalchemy.orm import Session

from labvault.auth.models import User
from labvault.blocks.models import Block, BlockPlot
from labvault.db import begin_write, count_up, insert_missing, utcnow
from labvault.errors import Conflict, Invalid, NotFound, ProcessingError
from labvault.files import service as files
from labvault.files.models import StoredFile, item_files
from labvault.items.history import changed
from labvault.items.models import Item
from labvault.plugin import BlockFile, BlockType, ContentMissing

#: The block types of a server by name (the registry's instances of BLOCK_TYPES).
BlockTypes = Mapping[str, BlockType]


def block_type(types: BlockTypes, name: str) -> BlockType:
    found = types.get(name)
    if found is None:
        raise Invalid(
            f"unknown block type {name!r}",
            {"block_type": [f"unknown; available: {', '.join(types)}"]},
        )
    return found


def block_to_dict(block: Block) -> dict[str, Any]:
    return {
        "id": block.id,
        "block_type": block.block_type,
        "title": block.title,
        "data": block.data,
        "file_ids": list(block.file_ids),
        "computed": block.computed,
        "error": block.error,
        "position": block.position,
        "version": block.version,
    }


def etag(block: Block) -> str:
    return f'"block-{block.id}@{block.version}"'


def blocks_of(session: Session, item: Item) -> list[Block]:
    """The item's blocks, in order."""
    return list(
        session.scalars(
            sa.select(Block).where(Block.item_id == item.id).order_by(Block.position, Block.id)
        )
    )


def blocks_of_items(session: Session, item_ids: list[int]) -> dict[int, list[Block]]:
    """The blocks of many items, each item's in order."""
    found: dict[int, list[Block]] = {}
    rows = session.scalars(
        sa.select(Block)
        .where(Block.item_id.in_(item_ids))
        .order_by(Block.item_id, Block.position, Block.id)
    )
    for block in rows:
        found.setdefault(block.item_id, []).append(block)
    return found


def get_block(session: Session, item: Item, block_id: int) -> Block:
    block = session.scalars(
        sa.select(Block).where(Block.id == block_id, Block.item_id == item.id)
    ).first()
    if block is None:
        raise NotFound(f"{item.refcode} has no block {block_id}")
    return block


def _block_files(session: Session, item: Item, file_ids: list[int]) -> list[BlockFile]:
    """The block's files, which must be files of its item; in the order given."""
    rows = {
        f.id: f
        for f in session.scalars(
            sa.select(StoredFile)
            .join(item_files, item_files.c.file_id == StoredFile.id)
            .where(item_files.c.item_id == item.id, StoredFile.id.in_(file_ids))
        )
    }
    missing = [i for i in file_ids if i not in rows]
    if missing:
        raise Invalid(
            "a block can only use files attached to its item",
            {"file_ids": [f"not files of {item.refcode}: {missing}"]},
        )
    return [
        BlockFile(id=f.id, name=f.name, media_type=f.media_type, size=f.size, sha256=f.sha256)
        for f in (rows[i] for i in file_ids)
    ]


def _validated(instance: BlockType, data: Any, file_ids: list[int]) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = instance.DataSchema().load(data or {})
    except ma.ValidationError as exc:
        raise Invalid("invalid block data", {"data": exc.messages}) from None
    if instance.max_files is not None and len(file_ids) > instance.max_files:
        raise Invalid(
            "too many files for this block type",
            {"file_ids": [f"a {instance.name} block takes at most {instance.max_files}"]},
        )
    return json.loads(json.dumps(loaded, default=str))  # dates and decimals as JSON stores them


def _results(
    session: Session, instance: BlockType, item: Item, block: Block
) -> tuple[dict[str, Any], str | None]:
    """What ``compute`` makes of the block: its results and None, or ``{}`` and the error.

    A file of an extension the type does not read never reaches ``compute``. A
    ProcessingError's message is the error; another exception is a bug of the type: it is
    logged and its text is not shown.
    """
    block_files = _block_files(session, item, list(block.file_ids))
    accepted = instance.accepted_file_extensions
    unreadable = [f.name for f in block_files if accepted and f.extension not in accepted]
    if unreadable:
        return (
            {},
            f"{', '.join(unreadable)}: a {instance.name} block reads {', '.join(accepted)} files",
        )
    try:
        return json.loads(json.dumps(instance.compute(block.data, block_files))), None
    except ProcessingError as exc:
        return {}, str(exc)
    except Exception:  # a plugin's bug must not lose the user's block
        instance.host.logger.exception("block type %s failed on block %s", instance.name, block.id)
        return {}, f"the {instance.name} block type failed (its error is in the server's log)"


def compute(session: Session, types: BlockTypes, item: Item, block: Block) -> None:
    """Fill ``computed`` and ``error``: a file the block type cannot read is an error text."""
    instance = block_type(types, block.block_type)
    block.computed, block.error = _results(session, instance, item, block)
    block.type_version = instance.version


def current(session: Session, types: BlockTypes, item: Item, block: Block) -> Block:
    """The block, computed again first if another version of its type computed it.

    Blocks are brought up to date one at a time as they are read, never all at once. The
    results are computed outside the write; they are stored only if nobody changed the
    block meanwhile (a new ``version``: its ETag changes), else the block is read again.
    """
    instance = types.get(block.block_type)
    if instance is None or block.type_version == instance.version:
        return block
    computed, error = _results(session, instance, item, block)
    begin_write(session)
    session.execute(
        sa.update(Block)
        .where(Block.id == block.id, Block.version == block.version)
        .values(
            computed=computed,
            error=error,
            type_version=instance.version,
            version=Block.version + 1,
            updated_at=utcnow(),
        )
    )
    session.commit()
    session.refresh(block)
    return block


def current_block(session: Session, types: BlockTypes, item: Item, block_id: int) -> Block:
    """One block for reading: computed again if an older version of its type computed it."""
    return current(session, types, item, get_block(session, item, block_id))


def current_blocks(session: Session, types: BlockTypes, item: Item) -> list[Block]:
    """The item's blocks for reading, in order, each brought up to date as one is."""
    return [current(session, types, item, b) for b in blocks_of(session, item)]


def create_block(
    session: Session, types: BlockTypes, user: User, item: Item, body: dict[str, Any]
) -> Block:
    block = add_block(session, types, user, item, body)
    session.commit()
    return block


def add_block(
    session: Session,
    types: BlockTypes,
    user: User,
    item: Item,
    body: dict[str, Any],
    *,
    noted: bool = True,
) -> Block:
    """Add a block made from a validated body to the item, in the current write; noted
    as a change of the item (a version), unless made with the item (``noted=False``: an
    import, whose item is one version with its blocks)."""
    instance = block_type(types, body["block_type"])
    file_ids = body.get("file_ids", [])
    position = session.scalar(
        sa.select(sa.func.coalesce(sa.func.max(Block.position), -1) + 1).where(
            Block.item_id == item.id
        )
    )
    block = Block(
        item_id=item.id,
        block_type=instance.name,
        title=body.get("title", ""),
        data=_validated(instance, body.get("data"), file_ids),
        file_ids=file_ids,
        position=position,
    )
    compute(session, types, item, block)
    session.add(block)
    if noted:
        changed(session, item, "block_create", user.id)
    return block


def update_block(
    session: Session,
    types: BlockTypes,
    user: User,
    item: Item,
    block: Block,
    body: dict[str, Any],
) -> Block:
    instance = block_type(types, block.block_type)
    file_ids = body.get("file_ids", block.file_ids)
    if "title" in body:
        block.title = body["title"]
    block.data = _validated(instance, body.get("data", block.data), file_ids)
    block.file_ids = list(file_ids)
    compute(session, types, item, block)
    count_up(block, "version")
    block.updated_at = utcnow()
    changed(session, item, "block_update", user.id)
    session.commit()
    return block


def delete_block(session: Session, user: User, item: Item, block: Block) -> None:
    session.delete(block)
    changed(session, item, "block_delete", user.id)
    session.commit()


def reorder_blocks(session: Session, user: User, item: Item, order: list[int]) -> list[Block]:
    blocks = {b.id: b for b in session.scalars(sa.select(Block).where(Block.item_id == item.id))}
    if sorted(order) != sorted(blocks):
        raise Invalid(
            "the new order must name every block of the item exactly once",
            {"block_ids": [f"must list each block of the item once: {sorted(blocks)}"]},
        )
    for position, block_id in enumerate(order):
        blocks[block_id].position = position
    changed(session, item, "block_order", user.id)
    session.commit()
    return [blocks[i] for i in order]


def replace_blocks(session: Session, item: Item, saved: list[dict[str, Any]]) -> None:
    """Make the item's blocks those of a snapshot (restoring a version)."""
    session.execute(sa.delete(Block).where(Block.item_id == item.id))
    session.flush()
    saved_ids = [entry["id"] for entry in saved]
    # a deleted block's id may have been given to a new block of another item since
    taken = set(session.scalars(sa.select(Block.id).where(Block.id.in_(saved_ids))))
    for entry in saved:
        session.add(
            Block(
                id=None if entry["id"] in taken else entry["id"],
                item_id=item.id,
                block_type=entry["block_type"],
                title=entry["title"],
                data=entry["data"],
                file_ids=entry["file_ids"],
                computed=entry["computed"],
                error=entry["error"],
                position=entry["position"],
                version=entry.get("version", 1) + 1,
            )
        )
    session.flush()


def _plot_key(instance: BlockType, block: Block, block_files: list[BlockFile]) -> str:
    """What a plot is drawn from: the type, its version and its instance's options (a
    deployer's change draws it again), the data, what compute made of them, the files'
    contents (and names, which a plot may show). The key is the plot's ETag, so it is an
    HMAC under the server's SECRET_KEY: options may hold secrets, and it tells nothing."""
    drawn_from = [
        instance.name,
        instance.version,
        instance.options,
        block.data,
        block.computed,
        [[f.name, f.sha256] for f in block_files],
    ]
    text = json.dumps(drawn_from, sort_keys=True, default=str).encode()
    secret = str(instance.host.settings["SECRET_KEY"]).encode()
    return hmac.new(secret, text, hashlib.sha256).hexdigest()


def _cached_plot(instance: BlockType, cached: BlockPlot | None, key: str) -> bytes | bool | None:
    """The cached picture (None: the type draws none), or False if there is none for key."""
    if cached is None or cached.key != key:
        return False
    if cached.png_sha256 is None:
        return None
    try:
        with instance.host.files.open(cached.png_sha256) as stream:
            return stream.read()
    except (FileNotFoundError, ContentMissing):  # collected, or not in a restored store
        return False


def _render(session: Session, instance: BlockType, block: Block, files: list[BlockFile]) -> Any:
    """``render_png`` of the block; a failure is stored as the block's error (a new
    version) and answered as Conflict, as a block whose compute failed is."""
    try:
        return instance.render_png(block.data, block.computed, files)
    except ProcessingError as exc:
        error = f"its plot failed: {exc}"
    except Exception:  # a plugin's bug: logged, and its text is not shown
        instance.host.logger.exception(
            "block type %s failed to draw block %s", instance.name, block.id
        )
        error = (
            f"the {instance.name} block type failed to draw its plot "
            "(its error is in the server's log)"
        )
    begin_write(session)
    session.execute(
        sa.update(Block)
        .where(Block.id == block.id, Block.version == block.version)
        .values(error=error, version=Block.version + 1, updated_at=utcnow())
    )
    session.commit()
    raise Conflict(f"the block has no plot: {error}")


def plot_png(session: Session, types: BlockTypes, item: Item, block: Block) -> tuple[bytes, str]:
    """The block's picture and the key it was drawn for (an ETag), rendered once per key.

    Conflict for a block whose results or plot failed, NotFound for a block type that
    draws none of it.
    """
    block = current(session, types, item, block)
    if block.error:
        raise Conflict(f"the block has no plot: {block.error}")
    instance = block_type(types, block.block_type)
    block_files = _block_files(session, item, list(block.file_ids))
    key = _plot_key(instance, block, block_files)
    png = _cached_plot(instance, session.get(BlockPlot, block.id), key)
    if png is False:
        png = _render(session, instance, block, block_files)
        stored = None if png is None else instance.host.files.store(io.BytesIO(png)).sha256
        begin_write(session)
        session.execute(sa.delete(BlockPlot).where(BlockPlot.block_id == block.id))
        insert_missing(session, BlockPlot, {"block_id": block.id, "key": key, "png_sha256": stored})
        session.commit()
    if png is None:
        raise NotFound(f"a {block.block_type} block has no plot")
    assert isinstance(png, bytes)
    return png, key


def plot_content(
    session: Session, types: BlockTypes, item: Item, block: Block
) -> tuple[str, int] | None:
    """The block's current plot in the file store (rendered now if it is not yet) as
    its sha256 and size, or None when the block has none (its type draws none, or it
    failed)."""
    try:
        png, _ = plot_png(session, types, item, block)
    except (Conflict, NotFound):
        return None
    cached = session.get(BlockPlot, block.id)
    return None if cached is None or cached.png_sha256 is None else (cached.png_sha256, len(png))


def detach_file(session: Session, user: User, item: Item, file_id: int) -> None:
    """Detach a file from an item loaded with ``write=True``; NotFound if not attached.

    A block of the item that uses the file must be changed first (Conflict): the
    block's results were computed from it.
    """
    files.require_attached(session, item, file_id)
    users = [b for b in blocks_of(session, item) if file_id in (b.file_ids or ())]
    if users:
        names = ", ".join(f"{b.id} ({b.title!r})" if b.title else str(b.id) for b in users)
        raise Conflict(
            f"file {file_id} is used by block {names} of {item.refcode}: "
            "remove it from the block first"
        )
    files.unlink(session, user, item, file_id)
