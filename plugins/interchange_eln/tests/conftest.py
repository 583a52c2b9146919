"""Apps with the plugin enabled, and a sign-in provider that knows people by ORCID iD
(:mod:`eln_people`), so that exports name authors by it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import eln_people
import pytest


@pytest.fixture
def app(labvault_make_app: Callable[..., Any]) -> Any:
    """An app with the .eln format and the ORCID-like provider."""
    return labvault_make_app(
        PLUGINS=["interchange_eln"],
        plugins={"orcid_like": eln_people},
        AUTH_PROVIDERS={"orcid": {"type": "orcid_like"}},
    )


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()
