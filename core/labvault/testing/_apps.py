"""Test apps in this process: their settings and database, a factory, and users with a
ready bearer token."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import pytest

TEST_SECRET_KEY = "labvault-test-secret-key-0123456789abcdef"
"""The ``SECRET_KEY`` of every app :func:`labvault_make_app` builds: a fixed value for tests,
never for a server."""
TEST_PUBLIC_URL = "http://localhost"
"""Where test apps say they are served: where Flask's test client sends its requests."""
_emails = itertools.count(1)
T = TypeVar("T")


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
    """Factory: ``labvault_make_app(PLUGINS=[...], **settings)`` -> app with tables created,
    served (``PUBLIC_URL``) where the test client sends its requests unless given.

    ``plugins=[module]`` registers modules (holding hookimpls and ``LABVAULT_PLUGIN_API``)
    as plugins without installing them, each enabled under its module's name;
    ``plugins={"name": module}`` gives the names. A test can so register a plugin it
    defines itself, e.g. ``labvault_make_app(plugins=[sys.modules[__name__]])``.
    """
    from labvault.app import create_app
    from labvault.migrations import create_schema

    apps: list[Any] = []

    def make(
        plugins: Sequence[ModuleType] | Mapping[str, ModuleType] = (), **overrides: Any
    ) -> Any:
        modules = dict(plugins) if isinstance(plugins, Mapping) else _by_name(plugins)
        settings = {**labvault_settings, "PUBLIC_URL": TEST_PUBLIC_URL, **overrides}
        enabled = list(settings.get("PLUGINS", []))
        settings["PLUGINS"] = enabled + [name for name in modules if name not in enabled]
        app = create_app(settings, plugin_modules=modules)
        app.config["TESTING"] = True
        apps.append(app)
        create_schema(app.extensions["labvault"].database.engine)
        return app

    yield make
    for app in apps:
        app.extensions["labvault"].database.dispose()


def _by_name(modules: Sequence[ModuleType]) -> dict[str, ModuleType]:
    return {module.__name__: module for module in modules}


@pytest.fixture
def labvault_app(labvault_make_app: Callable[..., Any]) -> Any:
    """An app with the core only."""
    return labvault_make_app()


@pytest.fixture
def labvault_client(labvault_app: Any) -> Any:
    """The test client of ``labvault_app``."""
    return labvault_app.test_client()


def instances_of(app: Any, base: type[T]) -> dict[str, T]:
    """The instances ``app``'s settings configure of the kind whose base class is
    ``base``, by instance name, e.g. ``instances_of(app, FileSource)["nas"].options``."""
    from labvault.registry import KINDS

    (kind,) = [kind for kind in KINDS if kind.base is base]
    return app.extensions["labvault"].registry.instances_of(kind)


@pytest.fixture
def labvault_make_user() -> Callable[..., TestUser]:
    """Factory: ``labvault_make_user(app, role="user", status="active")`` -> TestUser,
    whose token is the access token of a session of its own (revoked like any)."""
    from labvault.auth.models import Role, Status
    from labvault.auth.service import start_session
    from labvault.users.service import create_user
    from labvault.web.session import get_session

    def make(
        app: Any, role: str = "user", status: str = "active", email: str | None = None
    ) -> TestUser:
        email = email or f"user{next(_emails)}@example.org"
        with app.app_context():
            session = get_session()
            user = create_user(session, email, role=Role(role), status=Status(status))
            # a signed-in session of the user's, as a sign-in starts (a refresh-token row)
            token = start_session(session, app.extensions["labvault"].signer, user).access_token
            return TestUser(user.id, user.email or email, role, status, token)

    return make
