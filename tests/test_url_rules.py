"""The app's URL rules compile their builders on first use and build what Werkzeug's
own rules build."""

from __future__ import annotations

from typing import Any

import pytest
from flask import url_for
from labvault.web.rules import LazyBuilderRule
from werkzeug.routing import Rule

#: A value each converter of the app's rules takes.
SAMPLES = {
    "IntegerConverter": 7,
    "BoundedIntegerConverter": 7,
    "UnicodeConverter": "lab:ab12cd",
    "PathConverter": "a/b c.txt",
}


def sample_values(rule: Rule) -> dict[str, Any]:
    return {name: SAMPLES[type(c).__name__] for name, c in rule._converters.items()}


def test_creating_the_app_compiles_no_url_builder(make_app: Any) -> None:
    app = make_app()
    # Flask adds its static files' rule in its constructor, before the app's rule class is set
    rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"]
    assert len(rules) > 40
    assert all(type(rule) is LazyBuilderRule for rule in rules)
    # the builders are still the stand-ins: nothing was compiled
    compiled = [r.rule for r in rules if r._build.__name__ != "build_on_first_use"]
    assert compiled == []


@pytest.mark.parametrize("append_unknown", [False, True])
def test_every_rule_builds_what_werkzeug_builds(make_app: Any, append_unknown: bool) -> None:
    app = make_app()
    checked = 0
    for rule in app.url_map.iter_rules():
        values = {**sample_values(rule), "page": 2} if append_unknown else sample_values(rule)
        # Werkzeug's own builder, compiled as Rule.compile does, against the lazy one
        eager = Rule._compile_builder(rule, append_unknown).__get__(rule, None)
        assert rule.build(values, append_unknown) == eager(**values), rule.rule
        # once built, the rule keeps the compiled builder
        kept = rule._build_unknown if append_unknown else rule._build
        assert kept.__name__ != "build_on_first_use"
        assert rule.build(values, append_unknown) == eager(**values), rule.rule
        checked += 1
    assert checked > 40


def test_url_for_builds_urls_as_before(make_app: Any) -> None:
    app = make_app()
    with app.test_request_context("/"):
        endpoint = next(r.endpoint for r in app.url_map.iter_rules() if r.rule == "/openapi.json")
        assert url_for(endpoint) == "/openapi.json"
        assert url_for(endpoint, _external=True) == "http://localhost/openapi.json"
        assert url_for(endpoint, q="a b") == "/openapi.json?q=a+b"
