"""The sign-in mail is a job: sent after the server that took the request was killed,
by the next server on the same database, once."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

from auth_email_steps import SmtpPeer, ask_for_link, assert_log_hides, get_json, use_link

ACCEPTED = {"message": "if this address may sign in here, a link is on its way"}


def test_a_mail_whose_server_was_killed_is_sent_once_by_the_next(
    smtp_server: Callable[..., SmtpPeer], serve_email: Callable[..., Any]
) -> None:
    # the first server's SMTP server takes the connection and never says a word, so the
    # mail's first attempt is held there when the server is killed
    with socket.socket() as frozen:
        frozen.bind(("127.0.0.1", 0))
        frozen.listen(8)
        connected = threading.Event()
        held: list[socket.socket] = []

        def accept() -> None:
            held.append(frozen.accept()[0])
            connected.set()

        threading.Thread(target=accept, daemon=True).start()
        smtp = {"host": "127.0.0.1", "port": frozen.getsockname()[1], "timeout": 60}
        first = serve_email({**smtp, "security": "none"})
        answer = ask_for_link(first.base_url, "lea@example.org")
        assert (answer.status_code, answer.json()) == (202, ACCEPTED)
        assert connected.wait(30), first.log()[-3000:]
        first.stop()  # the whole server, with the worker sending the mail
        for connection in held:
            connection.close()

    peer = smtp_server("none")
    second = serve_email(peer.options)  # on the same database
    [mail] = peer.mailbox.wait_for(1)
    assert mail.rcpt_tos == ["lea@example.org"]
    signed_in = use_link(second.base_url, mail.token)  # the link is the second server's
    assert signed_in.status_code == 200, signed_in.text
    assert get_json(second.base_url, "/users/me", signed_in.json()["access_token"]).ok
    assert peer.mailbox.settled() == [mail]  # sent once
    assert_log_hides(first.log() + second.log())
