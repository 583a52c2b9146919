"""pytest plugin (entry point ``pytest11``): fixtures to test labvault and its plugins.

A plugin's tests can build an app with the plugin enabled and its config::

    def test_my_block_type(labvault_make_app, labvault_make_user):
        app = labvault_make_app(PLUGINS=["my_plugin"], BLOCK_TYPES={"xrd": {...}})
        alice = labvault_make_user(app, role="manager")
        response = app.test_client().get("/info", headers=alice.headers)

Apps use a fresh SQLite database in ``tmp_path`` unless ``labvault_database_url`` is
overridden (the core's own suite also runs on MariaDB and PostgreSQL that way).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

TEST_SECRET_KEY = "labvault-test-secret-key-0123456789abcdef"
_emails = itertools.count(1)


@dataclass(frozen=True)
class TestUser:
    """A user created for a test, with a ready bearer token."""

    __test__ = False  # not a test class, despite the name

    id: int
    email: str
    role: str
    status: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def labvault_database_url(tmp_path: Path) -> str:
    """Database URL for test apps; override it to test on another database."""
    return f"sqlite:///{tmp_path / 'labvault.db'}"


@pytest.fixture
def labvault_settings(tmp_path: Path, labvault_database_url: str) -> dict[str, Any]:
    """The settings every test app starts from."""
    return {
        "IDENTIFIER_PREFIX": "test",
        "SECRET_KEY": TEST_SECRET_KEY,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": labvault_database_url,
    }


@pytest.fixture
def labvault_make_app(labvault_settings: dict[str, Any]) -> Iterator[Callable[..., Any]]:
    """Factory: ``labvault_make_app(PLUGINS=[...], **settings)`` -> app with tables created."""
    from labvault.app import create_app
    from labvault.models import metadata

    apps: list[Any] = []

    def make(**overrides: Any) -> Any:
        app = create_app({**labvault_settings, **overrides})
        app.config["TESTING"] = True
        apps.append(app)
        metadata.create_all(app.extensions["labvault"].database.engine)
        return app

    yield make
    for app in apps:
        app.extensions["labvault"].database.dispose()


@pytest.fixture
def labvault_app(labvault_make_app: Callable[..., Any]) -> Any:
    """An app with the core only."""
    return labvault_make_app()


@pytest.fixture
def labvault_client(labvault_app: Any) -> Any:
    return labvault_app.test_client()


@pytest.fixture
def labvault_make_user() -> Callable[..., TestUser]:
    """Factory: ``labvault_make_user(app, role="user", status="active")`` -> TestUser."""
    from labvault.auth.models import Role, Status
    from labvault.db import get_session
    from labvault.users.service import create_user

    def make(
        app: Any, role: str = "user", status: str = "active", email: str | None = None
    ) -> TestUser:
        email = email or f"user{next(_emails)}@example.org"
        with app.app_context():
            user = create_user(get_session(), email, role=Role(role), status=Status(status))
            token = app.extensions["labvault"].signer.issue(user.id)
            return TestUser(user.id, user.email, role, status, token)

    return make
