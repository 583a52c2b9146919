"""Moving an app's time forward (``labvault_clock``): expiry seen as a person sees it,
without writing into the core's tables."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest


class Clock:
    """The time of this process, as ``labvault_clock`` gives it: it runs on from where a
    test puts it. Servers of ``labvault_serve`` are other processes and keep the real
    time: test expiry on an app of ``labvault_make_app``."""

    def __init__(self, traveller: Any) -> None:
        self._traveller = traveller

    def now(self) -> dt.datetime:
        """The time (UTC) as the app sees it now."""
        return dt.datetime.now(dt.UTC)

    def advance(self, by: dt.timedelta | float) -> None:
        """Move the time forward by ``by`` (a timedelta, or seconds): whatever expires
        within it (a sign-in ticket, a token, a lock's lease) has expired."""
        seconds = by.total_seconds() if isinstance(by, dt.timedelta) else float(by)
        assert seconds > 0, "the clock only moves forward"
        self._traveller.shift(dt.timedelta(seconds=seconds))


@pytest.fixture
def labvault_clock() -> Iterator[Clock]:
    """The time of this process, movable: ``labvault_clock.advance(dt.timedelta(hours=1))``.

    It starts at the real time and runs on (``time-machine``, from labvault's ``test``
    extra); ``time.monotonic()``, which timeouts use, is left alone. Apps of
    ``labvault_make_app`` and peers in this process (a stand-in provider) see it.
    """
    try:
        import time_machine
    except ImportError:  # pragma: no cover - labvault[test] brings it
        pytest.fail("labvault_clock needs time-machine: pip install 'labvault[test]'")
    with time_machine.travel(dt.datetime.now(dt.UTC), tick=True) as traveller:
        yield Clock(traveller)
