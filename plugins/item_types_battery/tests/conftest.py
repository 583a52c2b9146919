"""Apps with the plugin enabled, on SQLite unless a test asks for another database
(``@pytest.mark.parametrize("labvault_database_url", DATABASES, indirect=True)``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture
def labvault_database_url(request: pytest.FixtureRequest, labvault_make_database: Any) -> str:
    """A new database of the kind the test names (``sqlite`` unless parametrized)."""
    return str(labvault_make_database(getattr(request, "param", "sqlite")))


@pytest.fixture
def app(labvault_make_app: Callable[..., Any]) -> Any:
    """An app with the battery item types."""
    return labvault_make_app(PLUGINS=["item_types_battery"])


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def alice(app: Any, labvault_make_user: Callable[..., Any]) -> Any:
    return labvault_make_user(app)
