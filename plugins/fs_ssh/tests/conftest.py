"""Fixtures: real OpenSSH sshd servers (one shared per test process, one as jump host,
and fresh ones for tests that stop or freeze theirs) and SSH sources reading them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fs_ssh_peers import SSHD, Keys, Sshd, source_options
from labvault.testing import free_port
from labvault_fs_ssh import SshSource


def _started(server: Sshd) -> Sshd:
    try:
        return server.start()
    except (RuntimeError, OSError) as error:
        pytest.fail(f"cannot start OpenSSH's sshd ({SSHD}): {error}", pytrace=False)


@pytest.fixture(scope="session")
def ssh_keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    if not Path(SSHD).is_file():
        pytest.fail(f"{SSHD} is missing: apt-get install -y openssh-server", pytrace=False)
    return Keys.make(tmp_path_factory.mktemp("ssh-keys"))


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory, ssh_keys: Keys) -> Iterator[Sshd]:
    server = _started(Sshd(tmp_path_factory.mktemp("sshd"), ssh_keys, free_port()))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def jump_sshd(tmp_path_factory: pytest.TempPathFactory, ssh_keys: Keys) -> Iterator[Sshd]:
    folder = tmp_path_factory.mktemp("jump-sshd")
    server = _started(Sshd(folder, ssh_keys, free_port(), forwarding=True))
    yield server
    server.stop()


@pytest.fixture
def own_sshd(tmp_path: Path, ssh_keys: Keys) -> Iterator[Sshd]:
    """An sshd of this test alone, to stop, kill or freeze."""
    server = _started(Sshd(tmp_path / "own-sshd", ssh_keys, free_port()))
    yield server
    server.stop()


@pytest.fixture
def make_ssh_source() -> Iterator[Callable[..., SshSource]]:
    """Factory: ``make_ssh_source(server, root, **options)`` -> an SshSource (closed at
    the end of the test)."""
    made: list[SshSource] = []

    def make(server: Sshd, root: Path | str = ".", **overrides: Any) -> SshSource:
        options = SshSource.OptionsSchema().load(source_options(server, root, **overrides))
        source = SshSource("xrd-pc", options, None)  # type: ignore[arg-type]
        made.append(source)
        return source

    yield make
    for source in made:
        source.close()


@pytest.fixture
def big_file(tmp_path: Path) -> Path:
    """A 32 MiB file: more than SSH's window and paramiko's prefetch hold in flight, so
    a copy cut short cannot finish from what already arrived."""
    folder = tmp_path / "big"
    folder.mkdir()
    path = folder / "pattern.raw"
    path.write_bytes(bytes(range(256)) * (32 * 4096))
    return path


@pytest.fixture
def through_jump_host(jump_sshd: Sshd, tmp_path: Path) -> Callable[[Sshd], dict[str, Any]]:
    """Options that reach a server through ``jump_sshd``, with both host keys known."""

    def options(server: Sshd) -> dict[str, Any]:
        known_hosts = tmp_path / "known_hosts_with_jump"
        known_hosts.write_text(server.known_hosts_line() + jump_sshd.known_hosts_line())
        return {
            "known_hosts": str(known_hosts),
            "jump_host": {"hostname": "127.0.0.1", "port": jump_sshd.port},
        }

    return options


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """An empty folder to serve (tmp_path also holds the test's sshd files)."""
    folder = tmp_path / "data"
    folder.mkdir()
    return folder
