"""Opening an SFTP session: host keys, login, an optional jump host, and every failure
turned into an :class:`~labvault.plugin.Unavailable` that says what to do."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import socket
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import paramiko
from labvault.plugin import Unavailable


def fingerprint(key: paramiko.PKey) -> str:
    """The key's fingerprint as OpenSSH prints it (``SHA256:`` and unpadded base64)."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def known_hosts_name(hostname: str, port: int) -> str:
    """How known_hosts names a host: ``[host]:port`` unless the port is 22."""
    return hostname if port == 22 else f"[{hostname}]:{port}"


class _UnknownHostKey(Exception):
    def __init__(self, key: paramiko.PKey) -> None:
        super().__init__(key.get_name())
        self.key = key


class _HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """Called by paramiko only for a host known_hosts does not list (a *changed* key
    raises BadHostKeyException before any policy is asked, so it is always refused)."""

    def __init__(self, strict: bool, accepted: dict[str, paramiko.PKey]) -> None:
        self.strict = strict
        self.accepted = accepted

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: Any) -> None:
        if self.strict:
            raise _UnknownHostKey(key)
        # remembered for this process, so that a key changing later is still caught
        self.accepted[hostname] = key


@dataclass(frozen=True)
class Endpoint:
    """One SSH server to log in to (the target or its jump host)."""

    hostname: str
    port: int
    username: str
    key_file: str | None
    key_passphrase: str | None
    use_agent: bool

    @classmethod
    def of(cls, options: Mapping[str, Any]) -> Endpoint:
        return cls(
            options["hostname"],
            options["port"],
            options["username"],
            options["key_file"],
            options["key_passphrase"],
            bool(options["use_agent"]),
        )

    @property
    def address(self) -> str:
        return f"{self.hostname}:{self.port}"


@dataclass
class Connection:
    """An SFTP session and the SSH clients it runs over (the jump host's first)."""

    sftp: paramiko.SFTPClient
    clients: list[paramiko.SSHClient] = field(default_factory=list)

    def is_active(self) -> bool:
        channel = self.sftp.get_channel()
        alive = channel is not None and not channel.closed
        return alive and all(self._transport(c) for c in self.clients)

    @staticmethod
    def _transport(client: paramiko.SSHClient) -> bool:
        transport = client.get_transport()
        return transport is not None and transport.is_active()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.sftp.close()
        for client in reversed(self.clients):  # the target before the jump host
            with contextlib.suppress(Exception):
                client.close()


class Connector:
    """Opens connections with one source's options; remembers keys it accepted."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.target = Endpoint.of(options)
        self.jump = Endpoint.of(options["jump_host"]) if options["jump_host"] else None
        self.known_hosts: str = options["known_hosts"]
        self.strict: bool = options["strict_host_key_checking"]
        self.connect_timeout: float = options["connect_timeout"]
        self.operation_timeout: float = options["operation_timeout"]
        self.accepted: dict[str, paramiko.PKey] = {}

    def connect(self) -> Connection:
        clients: list[paramiko.SSHClient] = []
        try:
            sock = None
            if self.jump is not None:
                clients.append(self._login(self.jump, None))
                sock = self._tunnel(clients[0])
            clients.append(self._login(self.target, sock))
            return Connection(self._open_sftp(clients[-1]), clients)
        except BaseException:
            for client in reversed(clients):
                client.close()
            raise

    def _login(self, endpoint: Endpoint, sock: Any) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        with contextlib.suppress(FileNotFoundError):  # a missing file lists no host
            client.load_host_keys(self.known_hosts)
        for name, key in self.accepted.items():
            client.get_host_keys().add(name, key.get_name(), key)
        client.set_missing_host_key_policy(_HostKeyPolicy(self.strict, self.accepted))
        pkey = self._private_key(endpoint)
        timeout = self.connect_timeout
        try:
            client.connect(
                endpoint.hostname,
                port=endpoint.port,
                username=endpoint.username,
                pkey=pkey,
                allow_agent=endpoint.use_agent,
                look_for_keys=False,
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout,
                channel_timeout=timeout,
                sock=sock,
            )
        except BaseException as error:
            client.close()
            raise self._login_failure(endpoint, error) from None
        return client

    def _private_key(self, endpoint: Endpoint) -> paramiko.PKey | None:
        if endpoint.key_file is None:
            return None
        try:
            passphrase = endpoint.key_passphrase
            return paramiko.PKey.from_path(
                endpoint.key_file, passphrase.encode() if passphrase else None
            )
        except (paramiko.PasswordRequiredException, TypeError):
            # cryptography says TypeError for an encrypted key given no passphrase
            why = "it is encrypted: set key_passphrase"
        except (paramiko.SSHException, ValueError):
            # a wrong passphrase shows as a key that cannot be decoded; the error's
            # text is not shown, as it might quote what it was given
            why = "not a private key, or key_passphrase is wrong"
        except OSError as error:
            why = os.strerror(error.errno) if error.errno else str(error)
        raise Unavailable(f"cannot read the key file {endpoint.key_file} ({why})")

    def _login_failure(self, endpoint: Endpoint, error: BaseException) -> BaseException:
        host = known_hosts_name(endpoint.hostname, endpoint.port)
        if isinstance(error, _UnknownHostKey):
            return Unavailable(
                f"host key of {host} is not in {self.known_hosts} "
                f"({error.key.get_name()} {fingerprint(error.key)}); check it and add it, "
                f"e.g. ssh-keyscan -p {endpoint.port} {endpoint.hostname} >> {self.known_hosts}"
            )
        if isinstance(error, paramiko.BadHostKeyException):
            return Unavailable(
                f"host key of {host} has CHANGED: {self.known_hosts} has "
                f"{fingerprint(error.expected_key)}, the host offered "
                f"{fingerprint(error.key)} (possible man-in-the-middle); if the host was "
                f"reinstalled, check the new key and replace its line in {self.known_hosts}"
            )
        if isinstance(error, paramiko.AuthenticationException):
            how = f"the key {endpoint.key_file}" if endpoint.key_file else "the agent's keys"
            return Unavailable(
                f"{endpoint.username}@{endpoint.hostname} refused the key ({how}); add its "
                f"public key to ~{endpoint.username}/.ssh/authorized_keys on {endpoint.hostname}"
            )
        if isinstance(error, (TimeoutError, socket.timeout)):
            why = f"no answer within {self.connect_timeout:g} s"
        elif isinstance(error, socket.gaierror):
            why = f"unknown host name: {error.strerror}"
        elif isinstance(error, paramiko.ssh_exception.NoValidConnectionsError):
            refused = all(
                getattr(e, "errno", None) == 111 for e in error.errors.values()
            )  # ECONNREFUSED
            why = "connection refused" if refused else str(error)
        elif isinstance(error, OSError):
            why = error.strerror or str(error)
        elif isinstance(error, (paramiko.SSHException, EOFError)):
            why = f"SSH failed: {error or type(error).__name__}"
        else:
            return error  # not a network problem: a bug, keep it as it is
        return Unavailable(
            f"cannot reach {endpoint.address} ({why}); check that the host is up and "
            "that hostname and port are right"
        )

    def _tunnel(self, jump: paramiko.SSHClient) -> paramiko.Channel:
        target = (self.target.hostname, self.target.port)
        transport = jump.get_transport()
        assert transport is not None  # connect() succeeded
        try:
            return transport.open_channel(
                "direct-tcpip", target, ("127.0.0.1", 0), timeout=self.connect_timeout
            )
        except paramiko.ChannelException as error:
            assert self.jump is not None
            why = (
                "forwarding is not allowed there (AllowTcpForwarding)"
                if error.code == 1
                else f"it cannot reach it: {error.text}"
            )
            raise Unavailable(
                f"jump host {self.jump.address} does not forward to {self.target.address} ({why})"
            ) from None
        except (paramiko.SSHException, OSError, EOFError) as error:
            assert self.jump is not None
            raise Unavailable(
                f"cannot reach {self.target.address} through jump host {self.jump.address} "
                f"({error or type(error).__name__})"
            ) from None

    def _open_sftp(self, client: paramiko.SSHClient) -> paramiko.SFTPClient:
        transport = client.get_transport()
        assert transport is not None
        # opening the session channel and the sftp subsystem waits without a timeout of
        # its own in paramiko: closing the transport at the deadline ends those waits
        with _deadline(self.connect_timeout, transport):
            try:
                channel = transport.open_session(timeout=self.connect_timeout)
                channel.settimeout(self.connect_timeout)
                channel.invoke_subsystem("sftp")
                sftp = paramiko.SFTPClient(channel)
            except (paramiko.SSHException, OSError, EOFError) as error:
                raise Unavailable(
                    f"{self.target.address} opened no SFTP session ({error or 'timed out'}); "
                    "check that its sshd has an sftp Subsystem"
                ) from None
        channel.settimeout(self.operation_timeout)  # every SFTP request from now on
        return sftp


@contextlib.contextmanager
def _deadline(seconds: float, transport: paramiko.Transport) -> Iterator[None]:
    timer = threading.Timer(seconds, transport.close)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
