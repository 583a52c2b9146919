"""Error types shared by the core and plugins.

Everything labvault raises on purpose derives from :class:`LabvaultError`, so the CLI can
turn it into one clear line and the server into a JSON error instead of a traceback.

Services raise the domain errors below (:class:`NotFound`, :class:`Forbidden`,
:class:`Conflict`, :class:`Invalid`, ...) and know nothing of HTTP; one handler in
:mod:`labvault.api` answers each with its status code and message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar


class LabvaultError(Exception):
    """Base class of every error labvault raises on purpose."""


class ConfigError(LabvaultError):
    """The configuration (settings, plugins, their options) has one or more problems.

    ``problems`` holds every problem as ``"KEY.path: message"``, so a deployer sees them
    all at once instead of fixing one per restart. Raise it with one problem
    (``ConfigError("BRIDGE_URL: not set")``) or a list of them.
    """

    def __init__(self, problems: str | Iterable[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))

    def report(self) -> str:
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        lines = [f"labvault configuration has {count} {noun}:"]
        lines += [f"  - {problem}" for problem in self.problems]
        return "\n".join(lines)


class ProcessingError(LabvaultError):
    """An instance of a plugin's type (a block type, an inventory importer, ...) could not
    do its work on what it was given: a file it cannot read, a plot it cannot draw.

    Plugins raise it with a message meant for the user; the core shows that message
    (for example as a block's ``error``) instead of answering 500.
    """


class WriteOutsideTransaction(RuntimeError):
    """A write in a session that did not open its transaction for writing: the core's
    ``begin_write``, a plugin's ``host.session(write=True)``. A bug, not a refusal: on
    SQLite such a write can fail with "database is locked"."""


class DomainError(LabvaultError):
    """An operation is refused; ``message`` is meant for the client.

    The API answers ``{"code": status, "status": ..., "message": message}``, plus
    ``errors`` (problems by location and field) and ``headers`` when given.
    """

    #: The HTTP status the API answers with.
    status: ClassVar[int] = 400

    def __init__(
        self,
        message: str,
        *,
        errors: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = dict(errors) if errors else None
        self.headers = dict(headers) if headers else None


class NotFound(DomainError):
    """There is no such thing, or the caller may not know that there is (404)."""

    status = 404


class Forbidden(DomainError):
    """The caller may see it but not do this (403)."""

    status = 403


class Conflict(DomainError):
    """The operation contradicts the current state, e.g. a name already taken (409)."""

    status = 409


class Unauthenticated(DomainError):
    """A credential is missing, unknown, expired or revoked (401)."""

    status = 401


class TooManyRequests(DomainError):
    """Too many attempts in a short time; ``retry_after`` seconds until the next one (429)."""

    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        self.retry_after = max(1, retry_after)
        super().__init__(message, headers={"Retry-After": str(self.retry_after)})


class Unavailable(DomainError):
    """A service labvault relies on (a sign-in provider, a remote store) cannot be
    reached or answered wrongly; the message names it (502)."""

    status = 502


class DatabaseUnavailable(DomainError):
    """The database did not answer in time, or cannot be reached; nothing was changed
    that the client has been told of (503, with ``Retry-After``)."""

    status = 503
    #: Seconds a client should wait before trying again.
    RETRY_AFTER: ClassVar[int] = 5

    def __init__(self) -> None:
        super().__init__(
            "the database is unavailable; try again shortly",
            headers={"Retry-After": str(self.RETRY_AFTER)},
        )


class StorageFull(DomainError):
    """The disk (or the database's) is full; nothing was saved (507)."""

    status = 507

    def __init__(self, what: str = "the server's storage") -> None:
        super().__init__(f"{what} is full: nothing was saved; try again once space is freed")


class Invalid(DomainError):
    """The input is wrong: ``fields`` maps each field to its problems (422).

    ``location`` says where the fields were sent (``json``, ``query``, ``files``), as in
    the errors of request validation.
    """

    status = 422
    #: What the API says when no message is given (werkzeug's text for 422).
    DEFAULT_MESSAGE: ClassVar[str] = (
        "The request was well-formed but was unable to be followed due to semantic errors."
    )

    def __init__(
        self,
        message: str | None = None,
        fields: Mapping[str, Any] | None = None,
        *,
        location: str = "json",
    ) -> None:
        self.fields = dict(fields) if fields else {}
        errors = {location: self.fields} if fields else None
        super().__init__(message or self.DEFAULT_MESSAGE, errors=errors)


class BadPath(DomainError):
    """A path that is absolute, climbs with ``..`` or leads (through a link) out of the
    folder it must stay in (400)."""

    status = 400


class NotAFile(Invalid):
    """A path leads to a folder, a pipe, a device, ... where a regular file is needed (422)."""


class ContentTooLarge(DomainError):
    """Content is larger than the limit; nothing was stored (413)."""

    status = 413

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        super().__init__(f"the file is larger than the limit of {max_size} bytes")


class ServerFault(DomainError):
    """The server's own data is broken (e.g. stored content is missing); logged (500)."""

    status = 500
