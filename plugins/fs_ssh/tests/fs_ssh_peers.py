"""A real OpenSSH sshd for the tests (and bench/file_sources.py): throwaway keys, a
loopback port, a log to count logins, and ways to stop, kill or freeze it with its
session processes."""

from __future__ import annotations

import contextlib
import getpass
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labvault.testing import port_is_open, wait_until

SSHD = "/usr/sbin/sshd"  # by absolute path: sshd refuses to re-exec from a relative one


def make_key(path: Path) -> Path:
    """A new ed25519 key pair without passphrase at ``path`` (and ``path.pub``)."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(path)], check=True
    )
    return path


def openssh_fingerprint(public_key: Path) -> str:
    """The SHA256 fingerprint ``ssh-keygen -l`` prints for a public key file."""
    printed = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(public_key)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return printed.split()[1]


@dataclass(frozen=True)
class Keys:
    """The host key every test sshd shows and the user key the tests log in with."""

    host_key: Path
    user_key: Path
    username: str

    @classmethod
    def make(cls, folder: Path) -> Keys:
        folder.mkdir(parents=True, exist_ok=True)
        return cls(
            make_key(folder / "host_ed25519"), make_key(folder / "user_ed25519"), getpass.getuser()
        )


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{entry}/stat").read_text()
            # the command name (in parentheses) may hold spaces: fields follow the last ")"
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == pid:
                found.append(int(entry))
    return found


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants. sshd's per-connection children call setsid(), so
    its process group does not hold them."""
    tree = [pid]
    for child in _children(pid):
        tree.extend(process_tree(child))
    return tree


class Sshd:
    """One sshd on 127.0.0.1:``port``, serving SFTP to ``keys.user_key``."""

    def __init__(self, folder: Path, keys: Keys, port: int, forwarding: bool = False) -> None:
        self.folder = folder
        self.keys = keys
        self.port = port
        self.forwarding = forwarding
        self.log_path = folder / "sshd.log"
        self.known_hosts = folder / "known_hosts"
        self.process: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "authorized_keys").write_text(Path(f"{keys.user_key}.pub").read_text())
        self.known_hosts.write_text(self.known_hosts_line())

    def known_hosts_line(self) -> str:
        key_type, key = Path(f"{self.keys.host_key}.pub").read_text().split()[:2]
        return f"[127.0.0.1]:{self.port} {key_type} {key}\n"

    def _write_config(self) -> Path:
        config = self.folder / "sshd_config"
        config.write_text(
            f"ListenAddress 127.0.0.1\nPort {self.port}\nHostKey {self.keys.host_key}\n"
            f"PidFile {self.folder / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {self.folder / 'authorized_keys'}\n"
            "StrictModes no\nUsePAM no\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
            f"AllowTcpForwarding {'yes' if self.forwarding else 'no'}\n"
            "Subsystem sftp internal-sftp\nLogLevel VERBOSE\n"
            # many test connections at once must not be dropped as a flood
            "MaxStartups 100\n"
        )
        return config

    def start(self, timeout: float = 10.0) -> Sshd:
        """Start sshd and wait until it accepts connections; RuntimeError with its log
        if it does not."""
        Path("/run/sshd").mkdir(exist_ok=True)  # its privilege separation folder
        config = self._write_config()
        command = [SSHD, "-D", "-f", str(config), "-E", str(self.log_path)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        process = self.process

        def listening() -> bool:
            if process.poll() is not None:
                error = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(
                    f"sshd exited with {process.returncode} on port {self.port}:\n"
                    f"{error}{self.log()}"
                )
            return port_is_open(self.port)

        try:
            wait_until(listening, timeout)
        except AssertionError:
            self.stop()
            raise RuntimeError(
                f"sshd not listening on {self.port} after {timeout} s:\n{self.log()}"
            ) from None
        return self

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def logins(self) -> int:
        """How many SSH logins sshd accepted so far (one per connection)."""
        return self.log().count("Accepted publickey")

    def sessions(self) -> list[int]:
        """The processes serving open connections (not the listener)."""
        return process_tree(self.process.pid)[1:] if self.process else []

    def signal_all(self, signum: int) -> None:
        """Send ``signum`` to the listener and every session process."""
        if self.process is None:
            return
        for pid in process_tree(self.process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def kill(self) -> None:
        """SIGKILL sshd with its sessions: the host is gone, mid-whatever."""
        if self.process is None:
            return
        self.signal_all(signal.SIGKILL)
        self.process.wait()
        self.process = None

    def stop(self) -> None:
        """Stop sshd and its sessions (thawed first, in case a test froze them)."""
        if self.process is None:
            return
        self.signal_all(signal.SIGCONT)
        self.signal_all(signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.signal_all(signal.SIGKILL)
            self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None


def source_options(server: Sshd, root: Path | str = ".", **overrides: Any) -> dict[str, Any]:
    """Options of an SSH source reading ``root`` on ``server``, as a deployer writes them."""
    return {
        "hostname": "127.0.0.1",
        "port": server.port,
        "username": server.keys.username,
        "key_file": str(server.keys.user_key),
        "known_hosts": str(server.known_hosts),
        "root": str(root),
        "connect_timeout": 5,
        "operation_timeout": 5,
        **overrides,
    }
