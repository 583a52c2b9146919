"""The database session of a request, or of an app context (the CLI's commands, tests).

It is made on first use and closed when the app context ends (``app.teardown_appcontext``).
A request's session knows the client's address (``request.remote_addr``: PROXY_HOPS back
behind proxies), so the audit events written in it say where the request came from
(:data:`labvault.audit.service.CLIENT`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app, g, has_request_context, request

from labvault.audit.service import CLIENT

if TYPE_CHECKING:  # the web layer runs no SQL; it hands the session to services
    from sqlalchemy.orm import Session


def get_session() -> Session:
    """The session of the current request (or app context), created on first use."""
    session: Session | None = g.get("db_session")  # one look-up through Flask's proxy
    if session is None:
        client = request.remote_addr if has_request_context() else None
        factory = current_app.extensions["labvault"].database.sessionmaker
        session = g.db_session = factory(info={CLIENT: client})
    return session


def close_session(_exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
