"""Cycling runs listed by their fields: filtered (a value, a range), sorted, searched,
on every database, each list read through the field values' index."""

from __future__ import annotations

import pytest
from battery_steps import DATABASES, listed, new_cell, new_run
from labvault.testing import list_plan

#: The field values' index a list reads the matches of a filter from ...
INDEX = "ix_item_field_values_name_number_value_item_id"
#: ... and the one it looks each item's values up in, walking items (or, on PostgreSQL,
#: checking the few items of a type one by one)
EACH_ITEM = "ix_item_field_values_name_item_id_number_value"
NEWEST_OF_TYPE = "ix_items_type_updated_at_id_deleted_at"

pytestmark = pytest.mark.parametrize("labvault_database_url", DATABASES, indirect=True)

#: name: (c_rate, temperature, cycles)
RUNS = {
    "slow cold": (0.1, 0.0, 100),
    "half warm": (0.5, 25.0, 300),
    "half hot": (0.5, 45.0, 50),
    "fast warm": (2.0, 30.0, 1000),
    "unrated": (None, 20.0, None),
}


@pytest.fixture
def runs(client, alice):
    cell = new_cell(client, alice)
    for name, (c_rate, temperature, cycles) in RUNS.items():
        new_run(
            client,
            alice,
            cell,
            name=name,
            c_rate=c_rate,
            temperature=temperature,
            cycles=cycles,
            protocol=f"{name} CC-CV protocol",
        )
    # items of other types are not listed, whatever their fields
    new_cell(client, alice, "cell cold")
    return cell


def test_runs_are_filtered_by_a_value_and_by_a_range(client, alice, runs):
    assert sorted(listed(client, alice, type="cycling_run", **{"field.c_rate": "0.5"})) == [
        "half hot",
        "half warm",
    ]
    warm = {"field.temperature.gte": "20", "field.temperature.lt": "40"}
    assert sorted(listed(client, alice, type="cycling_run", **warm)) == [
        "fast warm",
        "half warm",
        "unrated",
    ]
    both = {"field.c_rate.gt": "0.1", "field.cycles.lte": "300", "field.temperature.lte": "30"}
    assert listed(client, alice, type="cycling_run", **both) == ["half warm"]
    assert listed(client, alice, type="cycling_run", **{"field.c_rate.gte": "100"}) == []


def test_a_filter_reads_its_value_as_the_field_does_in_every_type(client, alice, runs):
    # without type, a field is filtered in every type that has it: here, the runs
    typed = listed(client, alice, type="cycling_run", **{"field.c_rate": "0.5"})
    assert typed and listed(client, alice, **{"field.c_rate": "0.5"}) == typed
    assert listed(client, alice, type="cell", **{"field.c_rate": "0.5"}) == []
    wrong = client.get("/items?type=cycling_run&field.c_rate=fast", headers=alice.headers)
    assert wrong.status_code == 422 and "field.c_rate" in wrong.json["errors"]["query"]
    unknown = client.get("/items?type=cycling_run&field.protocol=x", headers=alice.headers)
    assert unknown.status_code == 422


def test_a_filtered_list_reads_the_index_of_field_values(app, alice, runs):
    for query in (
        {"type": "cycling_run", "field.c_rate": "0.5"},
        {"type": "cycling_run", "field.temperature.gte": "20", "field.temperature.lt": "40"},
    ):
        plan = list_plan(app, alice, query)
        assert INDEX in plan or EACH_ITEM in plan, plan


def test_a_list_whose_filters_match_many_walks_the_newest_items_of_its_type(
    app, client, alice, runs, monkeypatch
):
    queries = (
        {"type": "cycling_run", "field.c_rate.gte": "0.5"},
        {"type": "cycling_run", "field.temperature.gte": "20", "field.temperature.lt": "40"},
        {"type": "cycling_run", "sort": "-field.c_rate", "field.temperature.gte": "20"},
    )
    read = [listed(client, alice, **query) for query in queries]
    # these few matches are many (the core's threshold, named: a plugin test imports none
    # of the core's modules)
    monkeypatch.setattr("labvault.items.lists.WALK_FROM", 1)
    assert [listed(client, alice, **query) for query in queries] == read
    plan = list_plan(app, alice, queries[0])
    # each item's values looked up, not the matches read
    each_item = {
        "sqlite": f"COVERING INDEX {EACH_ITEM} (name=? AND item_id=?",
        "mysql": "DEPENDENT SUBQUERY item_field_values",
        "postgresql": f"Index Only Scan using {EACH_ITEM}",
    }
    dialect = app.extensions["labvault"].database.engine.dialect.name
    assert each_item[dialect] in plan, plan
    # the items read newest first from the type's index, not sorted (MariaDB reads a
    # table of a few rows in full, whatever its indexes)
    newest_first = {
        "sqlite": (f"SEARCH items USING INDEX {NEWEST_OF_TYPE}", "FOR ORDER BY"),
        "postgresql": (f"Index Scan Backward using {NEWEST_OF_TYPE}", "Sort"),
    }
    if dialect in newest_first:
        read, sorted_ = newest_first[dialect]
        assert read in plan and sorted_ not in plan, plan


def test_runs_are_sorted_by_a_field_either_way(client, alice, runs):
    ascending = listed(client, alice, type="cycling_run", sort="field.c_rate")
    # equal values: the older item first (ascending), the newer first (descending);
    # a run without a C-rate is not listed
    assert ascending == ["slow cold", "half warm", "half hot", "fast warm"]
    descending = listed(client, alice, type="cycling_run", sort="-field.c_rate")
    assert descending == list(reversed(ascending))
    filtered = {"field.temperature.gte": "20"}
    hottest = listed(client, alice, type="cycling_run", sort="-field.temperature", **filtered)
    assert hottest == ["half hot", "fast warm", "half warm", "unrated"]


def test_runs_are_searched_by_their_protocol(client, alice, runs):
    assert listed(client, alice, q="protocol") == [name for name in RUNS][::-1]
    assert listed(client, alice, q="cold", type="cycling_run") == ["slow cold"]
    assert listed(client, alice, q="hot", type="cycling_run") == ["half hot"]


def test_runs_are_filtered_by_their_procedure_through_its_index(app, client, alice):
    cell = new_cell(client, alice)
    for name, procedure in (("formation 1", "formation"), ("rates", "rate_capability")):
        new_run(client, alice, cell, name=name, procedure=procedure, c_rate=0.1)
    new_run(client, alice, cell, name="formation 2", procedure="formation", c_rate=0.05)

    query = {"type": "cycling_run", "field.procedure": "formation"}
    assert listed(client, alice, sort="field.c_rate", **query) == ["formation 2", "formation 1"]
    assert "ix_item_field_values_name_text_value_item_id" in list_plan(app, alice, query)
    # a value the field would refuse is read as text, as the field's kind: it matches nothing
    assert listed(client, alice, **{"type": "cycling_run", "field.procedure": "gcpl"}) == []
    refused = client.post(
        "/items",
        json={"type": "cycling_run", "cell": cell, "procedure": "gcpl"},
        headers=alice.headers,
    )
    assert refused.status_code == 422 and "procedure" in refused.json["errors"]["json"]


def test_runs_are_filtered_and_sorted_by_their_start_date(client, alice):
    cell = new_cell(client, alice)
    for name, started in (
        ("march", "2026-03-01"),
        ("january", "2026-01-15"),
        ("may", "2026-05-30"),
    ):
        new_run(client, alice, cell, name=name, started=started)
    new_run(client, alice, cell, name="not started")

    spring = {"field.started.gte": "2026-03-01", "field.started.lt": "2026-06-01"}
    assert listed(client, alice, type="cycling_run", sort="field.started", **spring) == [
        "march",
        "may",
    ]
    assert listed(client, alice, type="cycling_run", sort="-field.started") == [
        "may",
        "march",
        "january",
    ]
    wrong = client.get("/items?type=cycling_run&field.started=March", headers=alice.headers)
    assert wrong.status_code == 422 and "field.started" in wrong.json["errors"]["query"]
