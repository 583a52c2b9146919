"""Fixtures for the email-link tests: a real SMTP server (aiosmtpd) and a served labvault
with the plugin. The steps a person takes are in auth_email_steps.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from auth_email_steps import (
    APP_ORIGIN,
    INSTANCE,
    SENDER,
    Certificate,
    Mailbox,
    SmtpPeer,
    make_certificate,
)
from labvault.testing import free_port


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return make_certificate(tmp_path_factory.mktemp("smtp-tls"))


@pytest.fixture
def smtp_server(certificate: Certificate) -> Iterator[Callable[..., SmtpPeer]]:
    """Factory: ``smtp_server(security="none" | "starttls" | "ssl", login=False)``."""
    controllers: list[Controller] = []

    def start(security: str = "none", *, login: bool = False) -> SmtpPeer:
        mailbox = Mailbox()
        port = free_port()  # aiosmtpd's self-check cannot use port 0
        tls: dict[str, Any] = {}
        if security == "starttls":
            tls = {"tls_context": certificate.server_context(), "require_starttls": True}
        if login:
            tls |= {"authenticator": mailbox.authenticate, "auth_required": True}
        controller = Controller(
            mailbox,
            hostname="127.0.0.1",
            port=port,
            ssl_context=certificate.server_context() if security == "ssl" else None,
            server_hostname="localhost",
            **tls,
        )
        controller.start()
        controllers.append(controller)
        options: dict[str, Any] = {"host": "127.0.0.1", "port": port, "security": security}
        if security != "none":
            options["ca_file"] = str(certificate.cert_file)
        return SmtpPeer(mailbox, port, options)

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def email_settings(labvault_settings: dict[str, Any]) -> Callable[..., dict[str, Any]]:
    """Factory: the settings of a server with one email-link instance named ``mail`` that
    sends through ``smtp`` (host, port, ... options); keyword arguments are more options."""

    def settings(smtp: Mapping[str, Any], **options: Any) -> dict[str, Any]:
        provider = {"type": "email", "sender": SENDER, **smtp, **options}
        return {
            **labvault_settings,
            "PLUGINS": ["auth_email"],
            "AUTH_PROVIDERS": {INSTANCE: provider},
            "ALLOWED_REDIRECT_ORIGINS": [APP_ORIGIN],
        }

    return settings


@pytest.fixture
def serve_email(
    labvault_serve: Callable[..., Any], email_settings: Callable[..., dict[str, Any]]
) -> Callable[..., Any]:
    """Factory: ``serve_email(smtp, env=None, server=None, **options)`` -> a served labvault
    (2 workers); ``server`` holds more settings, ``options`` more options of the instance."""

    def serve(
        smtp: Mapping[str, Any],
        env: dict[str, str] | None = None,
        server: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> Any:
        settings = {**email_settings(smtp, **options), **(server or {})}
        return labvault_serve(workers=2, env=env, **settings)

    return serve
