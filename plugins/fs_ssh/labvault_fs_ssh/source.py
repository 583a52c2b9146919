"""The ``ssh`` file source: a folder on another machine, read over SFTP."""

from __future__ import annotations

import builtins
import contextlib
import errno
import io
import socket
import stat as stat_module
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from labvault.plugin import (
    Conflict,
    FileSource,
    Forbidden,
    Host,
    LeadsOutside,
    NotAFile,
    NotFound,
    OpenedFile,
    RemoteEntry,
    Unavailable,
    relative_to_root,
)

from labvault_fs_ssh.options import SshOptions

# paramiko (with cryptography and PyNaCl, ~200 ms) is imported by the first connection,
# not when the plugin is enabled: a command or a worker that reads no SSH source does without
if TYPE_CHECKING:
    import paramiko

    from labvault_fs_ssh.connection import Connection, Connector

T = TypeVar("T")


_Errors = tuple[type[BaseException], ...]


def _lost_connection() -> _Errors:
    """What paramiko raises when the connection under a request is gone: worth one more
    try on a fresh connection. A timeout is not among them: the peer may be frozen, and a
    second wait would double what the caller waits."""
    import paramiko

    return (EOFError, ConnectionError, paramiko.SSHException)


_TIMEOUT = (TimeoutError, socket.timeout)


class _ConnectionLost(Exception):
    pass


class SshSource(FileSource):
    name = "ssh"
    description = "A folder on another machine, read over SSH (SFTP)"
    OptionsSchema = SshOptions

    def __init__(self, instance_name: str, options: Mapping[str, Any], host: Host) -> None:
        super().__init__(instance_name, options, host)
        self._connector: Connector | None = None  # made with the first connection
        # one connection per source and process, shared by threads (the CLI, tests)
        self._lock = threading.RLock()
        self._connection: Connection | None = None
        self._root: str | None = None

    # --- connection ----------------------------------------------------------------------

    @property
    def _where(self) -> str:
        return f"{self.instance_name} ({self.options['hostname']})"

    def _connected(self) -> Connection:
        """The open connection, made now if there is none or the last one died. Call
        with the lock held."""
        if self._connection is not None and not self._connection.is_active():
            self._drop(self._connection)
        if self._connection is None:
            if self._connector is None:
                from labvault_fs_ssh.connection import Connector

                self._connector = Connector(self.options)
            self._connection = self._connector.connect()
        return self._connection

    def _drop(self, connection: Connection) -> None:
        """Forget ``connection`` (if still the current one) and close it."""
        with self._lock:
            if self._connection is connection:
                self._connection = None
                self._root = None
        connection.close()

    def _call(self, path: str, request: Callable[[paramiko.SFTPClient, str], T]) -> T:
        """Run ``request(sftp, root)``, once more on a fresh connection if the first one
        was lost; SFTP errors become the core's errors."""
        with self._lock:
            for attempt in (1, 2):
                connection = self._connected()
                lost_or_failed: _Errors = (*_lost_connection(), OSError)  # paramiko is in by now
                try:
                    if self._root is None:
                        self._root = connection.sftp.normalize(self.options["root"])
                    return request(connection.sftp, self._root)
                except _TIMEOUT:
                    self._drop(connection)  # a late answer would confuse the next request
                    raise self._timed_out() from None
                except lost_or_failed as error:
                    # paramiko says "Socket is closed" or "Server connection dropped"
                    # without an errno; an SFTP status comes with the connection alive
                    lost = isinstance(error, _lost_connection()) or not connection.is_active()
                    if isinstance(error, OSError) and not lost:
                        raise self._failure(path, error) from None
                    self._drop(connection)
                    if attempt == 2:
                        raise self._lost(error) from None
            raise AssertionError("unreachable")

    def _timed_out(self) -> Unavailable:
        return Unavailable(
            f"{self._where} did not answer within {self.options['operation_timeout']:g} s "
            "(operation_timeout); check that the host is not overloaded or frozen"
        )

    def _lost(self, error: BaseException) -> Unavailable:
        return Unavailable(
            f"lost the connection to {self._where} ({error or type(error).__name__}); "
            "try again, and check the host if it keeps happening"
        )

    def _failure(self, path: str, error: OSError) -> Exception:
        shown = path or "/"
        if error.errno in (errno.ENOENT, errno.ENOTDIR):
            return NotFound(f"{shown} not found on {self._where}")
        if error.errno in (errno.EACCES, errno.EPERM):
            return Forbidden(f"{self._where} does not let {self.options['username']} read {shown}")
        return Unavailable(f"{self._where} could not read {shown}: {error.strerror or error}")

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._drop(self._connection)

    # --- the contract ----------------------------------------------------------------------

    @staticmethod
    def _native(root: str, path: str) -> str:
        return f"{root.rstrip('/')}/{path}" if path else root

    def root(self) -> str:
        return self._call("", lambda sftp, root: root)

    def _reach(self, sftp: paramiko.SFTPClient, root: str, path: str) -> tuple[str, str | None]:
        """The real path ``path`` leads to (the host resolves every link) if it is inside
        the root, and the same as a link target if a link led there."""
        native = self._native(root, path)
        real = sftp.normalize(native)
        if relative_to_root(root, real) is None:
            raise LeadsOutside(self.instance_name, path)
        return real, None if real == native else real

    def list(self, path: str) -> Iterator[RemoteEntry]:
        return iter(self._call(path, lambda sftp, root: self._listing(sftp, root, path)))

    def _listing(
        self, sftp: paramiko.SFTPClient, root: str, path: str
    ) -> builtins.list[RemoteEntry]:
        entries = []
        for attributes in sftp.listdir_attr(self._reach(sftp, root, path)[0]):
            child = f"{path}/{attributes.filename}" if path else attributes.filename
            target = None
            if stat_module.S_ISLNK(attributes.st_mode or 0):
                try:
                    target, _ = self._reach(sftp, root, child)
                    attributes = sftp.stat(target)
                except LeadsOutside:
                    continue
                except OSError as error:
                    if error.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                        continue  # a dangling link leads nowhere to list
                    raise
            entries.append(_entry(child, attributes, target))
        return entries

    def stat(self, path: str) -> RemoteEntry:
        def look(sftp: paramiko.SFTPClient, root: str) -> RemoteEntry:
            real, target = self._reach(sftp, root, path)
            return _entry(path, sftp.stat(real), target)

        return self._call(path, look)

    def open(self, path: str) -> OpenedFile:
        with self._lock:
            # opening may retry on a fresh connection; reading never does (half a
            # file from one connection and half from another could mix two versions)
            remote, entry = self._call(path, lambda sftp, root: self._open(sftp, root, path))
            connection = self._connection
            assert connection is not None
        stream = _RemoteFile(self, connection, remote)
        return OpenedFile(entry, io.BufferedReader(stream, buffer_size=1 << 16))

    def _open(
        self, sftp: paramiko.SFTPClient, root: str, path: str
    ) -> tuple[paramiko.SFTPFile, RemoteEntry]:
        """Open the file at the real path ``path`` leads to (not the path itself, whose
        links may be switched meanwhile), then check what was opened: SFTP opens by
        name, following links, so the handle's attributes must be those the real path
        had, and the real path must still be one (no link on it)."""
        real, target = self._reach(sftp, root, path)
        before = sftp.lstat(real)
        if not stat_module.S_ISREG(before.st_mode or 0):
            what = "a folder" if stat_module.S_ISDIR(before.st_mode or 0) else "not a regular file"
            raise NotAFile(f"{path} on {self._where} is {what}")
        remote = sftp.open(real, "rb")
        try:
            opened = remote.stat()  # of the handle: what was opened
            if _identity(opened) != _identity(before) or sftp.normalize(real) != real:
                raise Conflict(f"{path} on {self._where} changed while it was opened; try again")
        except BaseException:
            with contextlib.suppress(Exception):  # the error to report is the first one
                remote.close()
            raise
        return remote, _entry(path, opened, target)


def _identity(attributes: paramiko.SFTPAttributes) -> tuple[object, ...]:
    """What SFTP tells of a file that a switched link could not fake: no inode number,
    but an owner, a type and mode, a size and a time."""
    return (
        attributes.st_uid,
        attributes.st_gid,
        attributes.st_mode,
        attributes.st_size,
        attributes.st_mtime,
    )


def _entry(path: str, attributes: paramiko.SFTPAttributes, target: str | None) -> RemoteEntry:
    is_dir = stat_module.S_ISDIR(attributes.st_mode or 0)
    modified = None if attributes.st_mtime is None else float(attributes.st_mtime)
    size = None if is_dir else attributes.st_size
    return RemoteEntry(path, is_dir, size, modified, link_target=target)


class _RemoteFile(io.RawIOBase):
    """A remote file as a raw stream; a failed read drops the connection and raises
    Unavailable naming the host."""

    def __init__(self, source: SshSource, connection: Connection, remote: paramiko.SFTPFile):
        super().__init__()
        self._source = source
        self._connection = connection
        self._remote = remote
        from labvault_fs_ssh.reading import ReadAhead  # paramiko is imported by now

        self._blocks = ReadAhead(connection.sftp, remote.handle)
        self._left = b""
        self._broken = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._broken:
            raise Unavailable(f"the connection to {self._source._where} was lost")
        if not self._left:
            # paramiko's SFTP client reads answers on the caller's thread: one at a time
            with self._source._lock:
                self._left = self._guarded(self._blocks.block)
        size = min(len(buffer), len(self._left))
        buffer[:size] = self._left[:size]
        self._left = self._left[size:]
        return size

    def _guarded(self, read: Callable[[], T]) -> T:
        lost_or_failed: _Errors = (*_lost_connection(), OSError)  # paramiko is in by now
        try:
            return read()
        except _TIMEOUT:
            self._break()
            raise self._source._timed_out() from None
        except lost_or_failed as error:
            self._break()
            raise self._source._lost(error) from None

    def _break(self) -> None:
        self._broken = True
        self._source._drop(self._connection)

    def close(self) -> None:
        if not self.closed and not self._broken:
            with self._source._lock, contextlib.suppress(Unavailable):
                self._guarded(self._blocks.close)
                self._guarded(self._remote.close)
        super().close()
