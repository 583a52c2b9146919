"""Every route in /openapi.json is called by at least one test.

Runs after every other test (see conftest.py) and checks the requests they made. Run
the whole suite for it to mean anything: alone it fails, naming every route.
"""

from __future__ import annotations

import pytest
from labvault.app import create_app
from labvault.testing import TEST_SECRET_KEY

from tests.conftest import CALLED_ROUTES, documented_operations


@pytest.mark.run_last
def test_every_documented_route_is_called_by_a_test(tmp_path):
    app = create_app(
        {"IDENTIFIER_PREFIX": "test", "SECRET_KEY": TEST_SECRET_KEY, "INSTANCE_PATH": str(tmp_path)}
    )
    documented = documented_operations(app)
    untested = sorted(f"{method.upper()} {path}" for method, path in documented - CALLED_ROUTES)
    assert untested == [], "routes no test calls (run the whole suite): " + ", ".join(untested)
