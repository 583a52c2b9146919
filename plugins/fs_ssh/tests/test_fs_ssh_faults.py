"""Servers that are away, stop, die or freeze: each call ends within its timeout with
an error naming the host, and the source works again once the server is back."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

from fs_ssh_peers import Sshd
from labvault.testing import free_port, unavailable_within
from labvault_fs_ssh import SshSource

MakeSource = Callable[..., SshSource]
CHUNK = 1 << 20


def read_until_failure(stream: object, limit: int) -> int:
    """Read ``stream`` in chunks until it raises; how many bytes came before."""
    total = 0
    while total < limit:
        chunk = stream.read(CHUNK)  # type: ignore[attr-defined]
        assert chunk, "the whole file arrived from a server that was gone"
        total += len(chunk)
    return total


def test_a_closed_port_cannot_be_reached(sshd: Sshd, make_ssh_source: MakeSource) -> None:
    closed = free_port()
    source = make_ssh_source(sshd, port=closed)

    with unavailable_within(2) as raised:
        source.list("")

    assert f"cannot reach 127.0.0.1:{closed} (connection refused)" in str(raised.value)


def test_a_stopped_server_is_unavailable_within_connect_timeout(
    own_sshd: Sshd, make_ssh_source: MakeSource, data: Path
) -> None:
    connected = make_ssh_source(own_sshd, data, connect_timeout=2)
    assert connected.stat("").is_dir
    never_connected = make_ssh_source(own_sshd, data, connect_timeout=2)

    own_sshd.kill()

    for source in (connected, never_connected):
        with unavailable_within(2) as raised:
            source.list("")
        assert f"cannot reach 127.0.0.1:{own_sshd.port}" in str(raised.value)


def test_a_frozen_server_is_unavailable_within_connect_timeout(
    own_sshd: Sshd, make_ssh_source: MakeSource, data: Path
) -> None:
    source = make_ssh_source(own_sshd, data, connect_timeout=1)
    own_sshd.signal_all(signal.SIGSTOP)  # the kernel still accepts; no SSH banner comes

    with unavailable_within(3) as raised:
        source.list("")

    assert f"cannot reach 127.0.0.1:{own_sshd.port}" in str(raised.value)


def test_a_killed_connection_is_replaced_on_the_next_call(
    own_sshd: Sshd, make_ssh_source: MakeSource, data: Path
) -> None:
    (data / "a.txt").write_text("a")
    source = make_ssh_source(own_sshd, data)
    assert [e.path for e in source.list("")] != []

    for pid in own_sshd.sessions():  # the listener lives on
        os.kill(pid, signal.SIGKILL)

    assert "a.txt" in {e.path for e in source.list("")}
    assert source.stat("a.txt").size == 1
    assert own_sshd.logins() == 2


def test_after_a_failure_the_next_call_works_once_sshd_is_back(
    own_sshd: Sshd, make_ssh_source: MakeSource, data: Path
) -> None:
    (data / "a.txt").write_text("a")
    source = make_ssh_source(own_sshd, data, connect_timeout=2)
    assert source.stat("a.txt").size == 1
    own_sshd.kill()
    with unavailable_within(2):
        source.stat("a.txt")

    own_sshd.start()  # the same port

    assert source.stat("a.txt").size == 1
    assert [e.path for e in source.list("")] == ["a.txt"]


def test_a_copy_cut_short_by_a_killed_server_is_unavailable(
    own_sshd: Sshd, make_ssh_source: MakeSource, big_file: Path
) -> None:
    source = make_ssh_source(own_sshd, big_file.parent, operation_timeout=3)
    _, stream = source.open(big_file.name)
    assert stream.read(CHUNK) == big_file.read_bytes()[:CHUNK]

    own_sshd.kill()

    with unavailable_within(3) as raised:
        read_until_failure(stream, big_file.stat().st_size)
    assert "127.0.0.1" in str(raised.value)
    stream.close()  # closing a broken stream is quiet


def test_a_copy_from_a_frozen_server_times_out(
    own_sshd: Sshd, make_ssh_source: MakeSource, big_file: Path
) -> None:
    source = make_ssh_source(own_sshd, big_file.parent, operation_timeout=2)
    _, stream = source.open(big_file.name)
    assert len(stream.read(CHUNK)) == CHUNK

    own_sshd.signal_all(signal.SIGSTOP)
    try:
        # what already arrived is read at once; then one request waits its 2 s
        with unavailable_within(2 + 1.5) as raised:
            read_until_failure(stream, big_file.stat().st_size)
    finally:
        own_sshd.signal_all(signal.SIGCONT)

    assert "did not answer within 2 s" in str(raised.value)
    assert "127.0.0.1" in str(raised.value)
    assert source.stat(big_file.name).size == big_file.stat().st_size  # a new connection


def test_a_listing_from_a_frozen_server_times_out(
    own_sshd: Sshd, make_ssh_source: MakeSource, data: Path
) -> None:
    source = make_ssh_source(own_sshd, data, operation_timeout=1)
    assert source.stat("").is_dir

    own_sshd.signal_all(signal.SIGSTOP)
    try:
        with unavailable_within(1 + 1) as raised:
            source.list("")
    finally:
        own_sshd.signal_all(signal.SIGCONT)

    assert "did not answer within 1 s" in str(raised.value)
