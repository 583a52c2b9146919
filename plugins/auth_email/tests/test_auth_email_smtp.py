"""How mail goes out: TLS from the start, a certificate nobody vouches for, a server that
is not there. The person always gets the same answer; the log says what went wrong, and
never with the link."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from auth_email_steps import INSTANCE, SmtpPeer, ask_for_link, assert_log_hides, make_certificate
from labvault.testing import free_port, wait_for_text, within

ACCEPTED = {"message": "if this address may sign in here, a link is on its way"}
ERROR_LINE = "could not send a sign-in mail through SMTP server 127.0.0.1:{port}"


def test_mail_over_tls_from_the_start(
    smtp_server: Callable[..., SmtpPeer],
    email_settings: Callable[..., dict[str, Any]],
    labvault_make_app: Callable[..., Any],
) -> None:
    peer = smtp_server("ssl")
    client = labvault_make_app(**email_settings(peer.options)).test_client()

    answer = client.post(f"/auth/{INSTANCE}/request", json={"email": "cy@example.org"})
    assert (answer.status_code, answer.get_json()) == (202, ACCEPTED)
    [mail] = peer.mailbox.wait_for(1)
    page = client.post(f"/auth/{INSTANCE}/verify", data={"token": mail.token})
    # the core's page shows the access token to paste into /doc
    assert page.status_code == 200 and 'id="access-token"' in page.get_data(as_text=True)


def test_an_untrusted_certificate_sends_no_mail(
    smtp_server: Callable[..., SmtpPeer],
    email_settings: Callable[..., dict[str, Any]],
    labvault_make_app: Callable[..., Any],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    peer = smtp_server("starttls")
    other_ca = make_certificate(tmp_path / "other-ca")
    settings = email_settings(peer.options, ca_file=str(other_ca.cert_file))
    client = labvault_make_app(**settings).test_client()
    caplog.set_level(logging.ERROR, logger="labvault.plugins.auth_email")

    answer = client.post(f"/auth/{INSTANCE}/request", json={"email": "oda@example.org"})
    assert (answer.status_code, answer.get_json()) == (202, ACCEPTED)

    log = wait_for_text(lambda: caplog.text, ERROR_LINE.format(port=peer.port))
    assert "CERTIFICATE_VERIFY_FAILED" in log
    assert peer.mailbox.settled() == []
    assert_log_hides(log)


def test_unreachable_smtp_server_still_answers_202_and_logs_an_error(
    serve_email: Callable[..., Any],
) -> None:
    port = free_port()  # nothing listens there
    served = serve_email({"host": "127.0.0.1", "port": port, "security": "none", "timeout": 2})

    answer = ask_for_link(served.base_url, "ned@example.org")
    assert (answer.status_code, answer.json()) == (202, ACCEPTED)

    log = wait_for_text(served.log, ERROR_LINE.format(port=port))
    assert "ConnectionRefusedError" in log
    assert_log_hides(log)


def _listening() -> socket.socket:
    peer = socket.socket()
    peer.bind(("127.0.0.1", 0))
    peer.listen(8)
    return peer


def test_a_frozen_smtp_server_still_answers_202_and_logs_a_timeout(
    serve_email: Callable[..., Any],
) -> None:
    """A server that takes the connection and never says a word (as one stopped with
    SIGSTOP does): the person's answer does not wait for it, and the mail gives up after
    the timeout, saying so."""
    with _listening() as frozen:
        port = frozen.getsockname()[1]
        served = serve_email({"host": "127.0.0.1", "port": port, "security": "none", "timeout": 2})
        with within(2):
            answer = ask_for_link(served.base_url, "fay@example.org")
        assert (answer.status_code, answer.json()) == (202, ACCEPTED)
        log = wait_for_text(served.log, ERROR_LINE.format(port=port), timeout=15)
    assert "timed out" in log
    assert_log_hides(log)


def test_an_smtp_server_gone_mid_conversation_is_logged(serve_email: Callable[..., Any]) -> None:
    """The server greets, then goes away before the mail is sent."""
    with _listening() as vanishing:
        port = vanishing.getsockname()[1]

        def greet_and_vanish() -> None:
            connection, _ = vanishing.accept()
            with connection:
                connection.sendall(b"220 mail.example.org ESMTP\r\n")
                connection.recv(1024)  # EHLO, then nothing more from this server

        greeter = threading.Thread(target=greet_and_vanish, daemon=True)
        greeter.start()
        served = serve_email({"host": "127.0.0.1", "port": port, "security": "none", "timeout": 2})
        answer = ask_for_link(served.base_url, "gus@example.org")
        assert (answer.status_code, answer.json()) == (202, ACCEPTED)
        log = wait_for_text(served.log, ERROR_LINE.format(port=port), timeout=15)
        greeter.join(timeout=5)
    assert "SMTPServerDisconnected" in log
    assert_log_hides(log)
