"""What the email-link tests share: the SMTP server's mailbox, a certificate, and the
steps a person takes with the mail they get."""

from __future__ import annotations

import email
import email.policy
import re
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from aiosmtpd.smtp import AuthResult, LoginPassword

INSTANCE = "mail"
SENDER = "labvault <noreply@lab.example.org>"
APP_ORIGIN = "https://app.example.org"
SMTP_USER = "labvault"
SMTP_PASSWORD = "smtp-password-for-tests"
#: How long a test waits for a mail that must not come (mails go out on a thread).
SETTLE_SECONDS = 0.7


@dataclass(frozen=True)
class Received:
    """One mail as the SMTP server got it."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def text(self) -> str:
        body = self.message.get_body(("plain",))
        assert body is not None, "the mail has no plain text part"
        return str(body.get_content())

    @property
    def link(self) -> str:
        found = re.findall(r"https?://\S+/auth/\w+/verify\?token=[\w-]+", self.text)
        assert len(found) == 1, f"expected one sign-in link in:\n{self.text}"
        return str(found[0])

    @property
    def token(self) -> str:
        return parse_qs(urlsplit(self.link).query)["token"][0]


class Mailbox:
    """aiosmtpd handler keeping every mail it receives."""

    def __init__(self) -> None:
        self.mails: list[Received] = []
        self.logins: list[str] = []
        self._arrived = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._arrived:
            self.mails.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
            self._arrived.notify_all()
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append(login)
        return AuthResult(success=(login, password) == (SMTP_USER, SMTP_PASSWORD))

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """The first ``count`` mails, once they have arrived."""
        with self._arrived:
            arrived = self._arrived.wait_for(lambda: len(self.mails) >= count, timeout)
        assert arrived, f"expected {count} mails, got {len(self.mails)}"
        return self.mails[:count]

    def settled(self) -> list[Received]:
        """Every mail, after waiting long enough for one that is still on its way."""
        time.sleep(SETTLE_SECONDS)
        return list(self.mails)


@dataclass(frozen=True)
class Certificate:
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_certificate(folder: Path) -> Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost, made by openssl."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "cert.pem", folder / "key.pem"
    request = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
    subject = ["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]
    files = ["-keyout", str(key), "-out", str(cert)]
    subprocess.run(["openssl", *request, *subject, *files], check=True, capture_output=True)
    return Certificate(cert, key)


@dataclass
class SmtpPeer:
    """A running SMTP server and the options that make labvault use it."""

    mailbox: Mailbox
    port: int
    options: dict[str, Any]


class _FromAddress(requests.adapters.HTTPAdapter):
    """Connects from one address of the loopback network (all of 127.0.0.0/8 is this
    machine), so the server sees a client of that address."""

    def __init__(self, address: str) -> None:
        self._source = (address, 0)
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **{**kwargs, "source_address": self._source})


def client_at(address: str) -> requests.Session:
    """An HTTP client whose requests come from ``address`` (127.x.y.z)."""
    session = requests.Session()
    session.mount("http://", _FromAddress(address))
    return session


def post_link_request(
    base_url: str, body: Any, client: requests.Session | None = None
) -> requests.Response:
    post = client.post if client is not None else requests.post
    return post(f"{base_url}/auth/{INSTANCE}/request", json=body, timeout=10)


def ask_for_link(
    base_url: str, address: str, client: requests.Session | None = None, **body: Any
) -> requests.Response:
    return post_link_request(base_url, {"email": address, **body}, client)


def open_link(base_url: str, token: str) -> requests.Response:
    return requests.get(
        f"{base_url}/auth/{INSTANCE}/verify",
        params={"token": token},
        allow_redirects=False,
        timeout=10,
    )


def use_link(base_url: str, token: str, accept: str = "application/json") -> requests.Response:
    """Press the confirm page's button: POST the token as its form does."""
    return requests.post(
        f"{base_url}/auth/{INSTANCE}/verify",
        data={"token": token},
        headers={"Accept": accept},
        allow_redirects=False,
        timeout=10,
    )


def get_json(base_url: str, path: str, access_token: str) -> requests.Response:
    return requests.get(
        base_url + path, headers={"Authorization": f"Bearer {access_token}"}, timeout=10
    )


def sign_in_by_mail(
    base_url: str, mailbox: Mailbox, address: str, client: requests.Session | None = None
) -> dict[str, Any]:
    """The whole way for a person: ask, read the mail, open and confirm the link."""
    before = len(mailbox.mails)
    assert ask_for_link(base_url, address, client).status_code == 202
    mail = mailbox.wait_for(before + 1)[-1]
    assert mail.rcpt_tos == [address]
    answer = use_link(base_url, mail.token)
    assert answer.status_code == 200, answer.text
    tokens: dict[str, Any] = answer.json()
    return tokens


def assert_log_hides(log: str, *secrets: str) -> None:
    """No secret is in the server's log, and no link token is written out anywhere."""
    for secret in secrets:
        assert secret not in log
    assert not re.search(r"token=(?!\[redacted\])[\w-]", log), log
