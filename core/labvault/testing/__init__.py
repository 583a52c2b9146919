"""pytest plugin (entry point ``pytest11``): fixtures and helpers to test labvault and
its plugins, and :class:`FileSourceContract`, :class:`BackupTargetContract` and
:class:`FileStoreContract`, the tests every file source, backup target and file store
type passes (the first with :func:`make_source_tree`
and :func:`flipping_link`).

Import everything from ``labvault.testing``; its modules (one per concern: apps, served
apps, waiting, the clock, browsers, backups, file sources) are private.

A plugin's tests can build an app with the plugin enabled and the settings it needs::

    def test_my_block_type(labvault_make_app, labvault_make_user):
        app = labvault_make_app(PLUGINS=["my_plugin"], BLOCK_TYPES={"xrd": {...}})
        alice = labvault_make_user(app, role="manager")
        response = app.test_client().get("/info", headers=alice.headers)

Apps use a fresh SQLite database in ``tmp_path`` unless ``labvault_database_url`` is
overridden (the core's own suite also runs on MariaDB and PostgreSQL that way);
``labvault_make_database(kind)`` makes a new database on the test machine's MariaDB or
PostgreSQL server for that, and :func:`list_plan` shows the database's plan of a list
(``GET /items``), to check that it reads an index. Their
``PUBLIC_URL`` is ``http://localhost``, where the test client sends its requests; a
server of :func:`labvault_serve` is at its own address. A sign-in belongs to the browser
that started it (a cookie): one test client, or one ``requests.Session``, is one browser.
:func:`page_form` reads the form of a sign-in page, and ``labvault_chromium`` is a
headless Chromium (Debian's ``chromium``, driven by Playwright) for what only a real
browser shows.
:func:`run_backup` runs a backup strategy through the API and waits for its end (a
backup target's tests read its ``last_report``); :func:`instances_of` gives the
instances of one kind an app's settings configure.

Tests wait for what they need, never for a fixed time: :func:`wait_until` (a condition),
:func:`wait_for_text` (a line in a log), :func:`wait_for_port`; :func:`within` and
:func:`unavailable_within` bound how long a call may take. ``labvault_clock`` moves the
time of apps in this process forward, to see a link or a ticket expire.
"""

from __future__ import annotations

import pytest

# asserts in the contracts and helpers are rewritten, as in a test module (this module
# is imported as a pytest plugin before any of them)
pytest.register_assert_rewrite(
    "labvault.testing._backups",
    "labvault.testing._browser",
    "labvault.testing._databases",
    "labvault.testing._file_sources",
    "labvault.testing._file_stores",
    "labvault.testing._serving",
    "labvault.testing._waiting",
)

from labvault.testing._apps import (  # noqa: E402
    TEST_PUBLIC_URL,
    TEST_SECRET_KEY,
    TestUser,
    instances_of,
    labvault_app,
    labvault_client,
    labvault_database_url,
    labvault_make_app,
    labvault_make_user,
    labvault_settings,
)
from labvault.testing._backups import (  # noqa: E402
    BackupTargetContract,
    run_backup,
    wait_for_backup,
)
from labvault.testing._browser import CHROMIUM, labvault_chromium, page_form  # noqa: E402
from labvault.testing._clock import Clock, labvault_clock  # noqa: E402
from labvault.testing._databases import labvault_make_database, list_plan  # noqa: E402
from labvault.testing._file_sources import (  # noqa: E402
    FileSourceContract,
    flipping_link,
    make_source_tree,
)
from labvault.testing._file_stores import FileStoreContract  # noqa: E402
from labvault.testing._serving import (  # noqa: E402
    ServedApp,
    free_port,
    labvault_serve,
    wait_until_ready,
)
from labvault.testing._waiting import (  # noqa: E402
    port_is_open,
    unavailable_within,
    wait_for_port,
    wait_for_text,
    wait_until,
    within,
)

__all__ = [
    "CHROMIUM",
    "TEST_PUBLIC_URL",
    "TEST_SECRET_KEY",
    "BackupTargetContract",
    "Clock",
    "FileSourceContract",
    "FileStoreContract",
    "ServedApp",
    "TestUser",
    "flipping_link",
    "free_port",
    "instances_of",
    "labvault_app",
    "labvault_chromium",
    "labvault_client",
    "labvault_clock",
    "labvault_database_url",
    "labvault_make_app",
    "labvault_make_database",
    "labvault_make_user",
    "labvault_serve",
    "labvault_settings",
    "list_plan",
    "make_source_tree",
    "page_form",
    "port_is_open",
    "run_backup",
    "unavailable_within",
    "wait_for_backup",
    "wait_for_port",
    "wait_for_text",
    "wait_until",
    "wait_until_ready",
    "within",
]
