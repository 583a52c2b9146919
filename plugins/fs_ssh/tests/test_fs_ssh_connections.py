"""One connection per source, reused by every call and shared by threads."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fs_ssh_peers import Sshd
from labvault.testing import wait_until
from labvault_fs_ssh import SshSource

MakeSource = Callable[..., SshSource]


def test_calls_share_one_connection(
    own_sshd: Sshd, make_ssh_source: MakeSource, data: Path
) -> None:
    (data / "a.txt").write_bytes(b"abc")
    source = make_ssh_source(own_sshd, data)

    assert source.root() == str(data.resolve())
    assert [e.path for e in source.list("")] == ["a.txt"]
    assert source.stat("a.txt").size == 3
    entry, stream = source.open("a.txt")
    with stream:
        assert (entry.size, stream.read()) == (3, b"abc")
    assert source.stat("a.txt").size == 3  # after a stream was closed, too

    assert own_sshd.logins() == 1


def test_close_ends_the_connection_and_the_next_call_opens_one(
    own_sshd: Sshd, make_ssh_source: MakeSource, data: Path
) -> None:
    source = make_ssh_source(own_sshd, data)
    source.list("")
    assert own_sshd.sessions()

    source.close()

    wait_until(lambda: not own_sshd.sessions(), 5, message=lambda: f"{own_sshd.sessions()}")
    assert list(source.list("")) == []
    assert own_sshd.logins() == 2


def test_threads_share_the_connection(
    own_sshd: Sshd, make_ssh_source: MakeSource, data: Path
) -> None:
    for index in range(20):
        (data / f"{index}.dat").write_bytes(bytes(index) * 1000)
    source = make_ssh_source(own_sshd, data)

    def read(index: int) -> tuple[int | None, bytes]:
        _, stream = source.open(f"{index}.dat")
        with stream:
            return source.stat(f"{index}.dat").size, stream.read()

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(read, range(20)))

    assert answers == [(index * 1000, bytes(index) * 1000) for index in range(20)]
    assert own_sshd.logins() == 1


def test_a_jump_host_carries_the_connection(
    sshd: Sshd,
    jump_sshd: Sshd,
    make_ssh_source: MakeSource,
    through_jump_host: Callable[[Sshd], dict[str, Any]],
    data: Path,
) -> None:
    (data / "a.txt").write_text("a")
    jump_before, target_before = jump_sshd.logins(), sshd.logins()

    source = make_ssh_source(sshd, data, **through_jump_host(sshd))
    assert [e.path for e in source.list("")] == ["a.txt"]
    assert source.stat("a.txt").size == 1

    assert (jump_sshd.logins(), sshd.logins()) == (jump_before + 1, target_before + 1)
