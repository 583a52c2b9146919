"""The file source contract every type keeps, read from a real sshd: directly, and
through a jump host like ``ssh -J``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fs_ssh_peers import Sshd
from labvault.testing import FileSourceContract
from labvault_fs_ssh import SshSource


class TestSshSource(FileSourceContract):
    @pytest.fixture
    def make_file_source(
        self, sshd: Sshd, make_ssh_source: Callable[..., SshSource]
    ) -> Callable[[Path], SshSource]:
        return lambda root: make_ssh_source(sshd, root)


class TestSshSourceThroughJumpHost(FileSourceContract):
    @pytest.fixture
    def make_file_source(
        self,
        sshd: Sshd,
        make_ssh_source: Callable[..., SshSource],
        through_jump_host: Callable[[Sshd], dict[str, Any]],
    ) -> Callable[[Path], SshSource]:
        return lambda root: make_ssh_source(sshd, root, **through_jump_host(sshd))
