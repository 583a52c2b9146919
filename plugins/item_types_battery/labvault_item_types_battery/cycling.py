"""The cycling run: a cell charged and discharged on a channel of a battery cycler."""

from __future__ import annotations

import marshmallow as ma
from labvault.plugin import Choice, ItemReference, ItemType, Quantity, SearchWeight, Text
from marshmallow import fields, validate

#: What a run is for, as a lab names its test procedures.
PROCEDURES = (
    "formation",
    "cycle_life",
    "rate_capability",
    "gitt",
    "impedance",
    "calendar_ageing",
    "other",
)


class CyclingRunFields(ma.Schema):
    cell = ItemReference(required=True, metadata={"description": "refcode of the cell cycled"})
    procedure = Choice(PROCEDURES, allow_none=True)
    protocol = Text(
        allow_none=True,
        max_length=2000,
        metadata={"description": "the cycling protocol, e.g. 'CC-CV 2.5-4.2 V, C/2'"},
    )
    c_rate = Quantity("C", minimum=0, allow_none=True)
    temperature = Quantity("°C", minimum=-273.15, allow_none=True)
    cycles = fields.Integer(
        strict=True,  # 2.5 cycles is a mistake, not 2
        allow_none=True,
        validate=validate.Range(min=0),
        metadata={"description": "cycles run"},
    )
    lower_cutoff_voltage = Quantity("V", allow_none=True)
    upper_cutoff_voltage = Quantity("V", allow_none=True)
    cycler = Text(allow_none=True, max_length=200, metadata={"description": "the instrument"})
    channel = Text(allow_none=True, max_length=50, metadata={"description": "e.g. 'B3-12'"})
    started = fields.Date(allow_none=True)
    finished = fields.Date(allow_none=True)

    @ma.validates_schema
    def _finished_after_started(self, data: dict[str, object], **_: object) -> None:
        started, finished = data.get("started"), data.get("finished")
        if started and finished and finished < started:  # type: ignore[operator]
            raise ma.ValidationError("a run cannot finish before it started", "finished")


class CyclingRun(ItemType):
    name = "cycling_run"
    display_name = "Cycling run"
    description = "A cell cycled on a channel of a battery cycler: protocol, C-rate, temperature"
    FieldsSchema = CyclingRunFields
    statuses = ("queued", "running", "finished", "failed")
    searched = {
        "protocol": SearchWeight.BODY,
        "cycler": SearchWeight.BODY,
        "channel": SearchWeight.BODY,
    }
    filterable = ("c_rate", "temperature", "cycles", "started", "procedure")
    derived_links = {"cell": "cycling"}
