"""Backups in tests: running a strategy through the API (:func:`run_backup`) and the
contract every backup target type passes (:class:`BackupTargetContract`)."""

from __future__ import annotations

import io
import os
from typing import Any

import pytest

from labvault.testing._waiting import wait_until


def run_backup(client: Any, headers: dict[str, str], strategy: str, timeout: float = 120) -> Any:
    """Run a backup strategy through the API as an admin (``headers``) and wait for it:
    ``POST /backups/<strategy>`` answers 202 at once and the run goes on in the server.
    Its state (``GET /backups/<strategy>``) once it has ended."""
    started = client.post(f"/backups/{strategy}", headers=headers)
    assert started.status_code == 202, started.get_json()
    assert started.get_json()["running"] is True
    return wait_for_backup(client, headers, strategy, timeout)


def wait_for_backup(
    client: Any, headers: dict[str, str], strategy: str, timeout: float = 120
) -> Any:
    """The state of a backup strategy (``GET /backups/<strategy>``) once it is not
    ``running``; fails after ``timeout`` seconds."""
    seen: list[Any] = []

    def ended() -> Any:
        seen[:] = [client.get(f"/backups/{strategy}", headers=headers).get_json()]
        return None if seen[0]["running"] else seen[0]

    return wait_until(
        ended,
        timeout,
        message=lambda: f"backup {strategy} still running: {seen[0]}",
        interval=0.05,
    )


class _Breaks(io.RawIOBase):
    """A stream that gives ``good`` bytes and then fails, as a dying upload does."""

    def __init__(self, good: bytes) -> None:
        self._good = io.BytesIO(good)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._good.read(len(buffer))
        if not chunk:
            raise OSError("the stream broke")
        buffer[: len(chunk)] = chunk
        return len(chunk)


class BackupTargetContract:
    """What every backup target type must do, as tests: subclass it in a test module and
    give it a fixture ``backup_target`` (an empty target, ready to use)."""

    def test_put_keeps_the_bytes_and_get_gives_them_back(self, backup_target: Any) -> None:
        large = os.urandom(3 * 1024 * 1024 + 5)

        assert backup_target.put("snapshots/one/manifest.json", io.BytesIO(b'{"a": 1}')) == 8
        assert backup_target.put("contents/ab/abcdef", io.BytesIO(large)) == len(large)

        with backup_target.get("snapshots/one/manifest.json") as stream:
            assert stream.read() == b'{"a": 1}'
        with backup_target.get("contents/ab/abcdef") as stream:
            assert stream.read() == large

    def test_put_replaces_and_delete_removes(self, backup_target: Any) -> None:
        from labvault.plugin import NotFound

        backup_target.put("k/v", io.BytesIO(b"old"))
        backup_target.put("k/v", io.BytesIO(b"new"))
        with backup_target.get("k/v") as stream:
            assert stream.read() == b"new"
        assert backup_target.exists("k/v") and not backup_target.exists("k/w")

        backup_target.delete("k/v")
        backup_target.delete("k/v")  # nothing there: no error
        assert not backup_target.exists("k/v")
        with pytest.raises(NotFound):
            backup_target.get("k/v")

    def test_list_gives_the_keys_under_a_prefix_in_order(self, backup_target: Any) -> None:
        for key in ("b/2", "a/1", "b/10", "b/1/x", "c"):
            backup_target.put(key, io.BytesIO(key.encode()))

        assert list(backup_target.list()) == ["a/1", "b/1/x", "b/10", "b/2", "c"]
        assert list(backup_target.list("b/1")) == ["b/1/x", "b/10"]
        assert list(backup_target.list("nothing/")) == []

    def test_a_failed_put_leaves_nothing_behind(self, backup_target: Any) -> None:
        backup_target.put("kept", io.BytesIO(b"whole"))

        for key in ("kept", "new"):
            with pytest.raises(OSError, match="the stream broke"):
                backup_target.put(key, io.BufferedReader(_Breaks(b"x" * 100_000)))

        with backup_target.get("kept") as stream:
            assert stream.read() == b"whole"
        assert not backup_target.exists("new")
        assert list(backup_target.list()) == ["kept"]
