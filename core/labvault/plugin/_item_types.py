"""Item types: the kinds of record a lab keeps (samples, cells, cycling runs, ...), and the
fields their schemas are made of."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, ClassVar

import marshmallow as ma
from marshmallow import fields, validate

from labvault.plugin._types import EmptySchema, PluginType

#: What a refcode looks like: ``PREFIX:XXXXXX``.
REFCODE_PATTERN = r"^[a-z]{1,10}:[A-Z]{6}$"


class SearchWeight(enum.StrEnum):
    """How much a searched field counts: ``TITLE`` ranks with the item's name, ``BODY``
    with its description."""

    TITLE = "title"
    BODY = "body"


class ItemType(PluginType):
    """A type of item: what a record of this kind holds beyond the fields every item has
    (``item_id``, ``name``, ``description``, ``date``, ``status``, ``creators``,
    ``collections``, ``relationships``).

    **Fields.** ``FieldsSchema`` is a marshmallow schema of the type's own fields; a body
    it refuses is a 422 naming the field. Build it from marshmallow's fields and
    :class:`Text`, :class:`Quantity`, :class:`Choice`, :class:`ItemReference`:
    a string, a number with its unit, a date, one of a list of values, another item (by
    refcode), or a ``fields.List`` of any of them. The values are stored as JSON with the
    item (dates as ISO text), so a type needs no migration: a field added later reads as
    absent on older items (or its ``load_default``); one removed or made stricter never
    makes an item unreadable, and ``labvault items check-type NAME`` lists the items that
    no longer validate.

    **Statuses.** ``statuses`` is the type's vocabulary; an item's status must be one of
    them; ``default_status`` (the first by default) is given to an item created without one.

    **Search, filters, sorting.** ``searched`` names the fields full-text search reads,
    each with its :class:`SearchWeight`. ``filterable`` names fields a list may filter on
    (``GET /items?type=NAME&field.F=v``, ranges with ``field.F.gte=`` / ``.lte``, ``.gt``,
    ``.lt``) and sort by (``sort=field.F``, ``-field.F``): strings, numbers, dates,
    booleans and lists of them; a field name is one kind in every type that filters on
    it, and a filter without ``type`` reads it in all of them. Their values are kept in
    an indexed table in the item's write, so such a list is an index lookup on every
    database. ``list_arguments`` names filterable fields also taken as ``?F=v`` (of this
    type unless ``type`` says another), unique among the types.

    **Links.** ``derived_links`` maps fields naming other items to the origin of the
    relationships derived from them (``{"cell": "cycling"}``): an :class:`ItemReference`,
    a list of them, or a list of constituents (objects whose ``item`` is a refcode). The
    item then lists each as its ``parent``; the links follow the field.

    **Who.** An item of a ``lab_wide`` type is read and changed by every active user
    (shared lab resources such as chemicals and instruments); the others follow their
    creators and collections.

    **Identifiers.** ``identifier_pattern``, when set, is a regular expression each
    ``item_id`` chosen for an item of the type must match (a generated one always does).
    """

    #: Name shown to people, e.g. ``"Cycling run"`` (default: from ``name``).
    display_name: ClassVar[str] = ""
    #: The type's own fields.
    FieldsSchema: ClassVar[type[ma.Schema]] = EmptySchema
    #: The status vocabulary, in the order a client offers it.
    statuses: ClassVar[tuple[str, ...]] = ("active",)
    #: Status of an item created without one (default: the first of ``statuses``).
    default_status: ClassVar[str | None] = None
    #: Fields full-text search reads, with their weight.
    searched: ClassVar[Mapping[str, SearchWeight]] = {}
    #: Fields lists filter on and sort by.
    filterable: ClassVar[tuple[str, ...]] = ()
    #: Filterable fields also taken as ``GET /items?F=v`` (without ``type``).
    list_arguments: ClassVar[tuple[str, ...]] = ()
    #: Fields naming other items -> the origin of the relationships derived from them.
    derived_links: ClassVar[Mapping[str, str]] = {}
    #: Items every active user reads and writes.
    lab_wide: ClassVar[bool] = False
    #: A regular expression every chosen ``item_id`` must match, or None.
    identifier_pattern: ClassVar[str | None] = None

    @classmethod
    def shown_name(cls) -> str:
        """``display_name``, or ``name`` made readable."""
        return cls.display_name or cls.name.replace("_", " ").capitalize()

    @classmethod
    def initial_status(cls) -> str:
        """The status of an item created without one."""
        return cls.default_status or cls.statuses[0]


def Text(*, max_length: int = 500, **kwargs: Any) -> fields.String:
    """A string of at most ``max_length`` characters (``allow_none`` and the rest as for
    ``fields.String``)."""
    return fields.String(validate=validate.Length(max=max_length), **kwargs)


def Quantity(
    unit: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    **kwargs: Any,
) -> fields.Float:
    """A number in ``unit`` (``"mg"``, ``"°C"``, ``"C"`` for a C-rate), optionally bounded;
    the unit is documented with the field (``x-unit`` in its JSON Schema)."""
    metadata = {"description": unit, "x-unit": unit, **kwargs.pop("metadata", {})}
    checks = kwargs.pop("validate", None)
    bounds = (
        [validate.Range(min=minimum, max=maximum)]
        if minimum is not None or maximum is not None
        else []
    )
    extra = [] if checks is None else list(checks) if isinstance(checks, list) else [checks]
    return fields.Float(validate=bounds + extra, metadata=metadata, **kwargs)


def Choice(values: tuple[str, ...] | list[str], **kwargs: Any) -> fields.String:
    """One of ``values``."""
    return fields.String(validate=validate.OneOf(list(values)), **kwargs)


def ItemReference(**kwargs: Any) -> fields.String:
    """Another item, by its refcode (``PREFIX:XXXXXX``); name the field in the type's
    ``derived_links`` to link the items."""
    metadata = {"description": "refcode of an item", "x-item-reference": True}
    metadata.update(kwargs.pop("metadata", {}))
    return fields.String(
        validate=validate.Regexp(REFCODE_PATTERN, error="not a refcode (like lab:ABCDEF)"),
        metadata=metadata,
        **kwargs,
    )
