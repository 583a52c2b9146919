"""Writing the sign-in mail and handing it to an SMTP server (standard library only)."""

from __future__ import annotations

import html
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any

_TEXT = """\
Hello,

someone (hopefully you) asked to sign in to labvault at {server} with this address.
Open this link to sign in:

{link}

The link works once, within {minutes} minutes.

If you did not ask for this, ignore this mail: nobody can sign in without the link.
"""

_HTML = """\
<!doctype html><html lang="en"><body>
<p>Hello,</p>
<p>someone (hopefully you) asked to sign in to labvault at {server} with this address.</p>
<p><a href="{link}">Sign in to labvault</a></p>
<p>The link works once, within {minutes} minutes.</p>
<p>If you did not ask for this, ignore this mail: nobody can sign in without the link.</p>
</body></html>
"""


@dataclass(frozen=True)
class SignInMail:
    """What one sign-in mail says."""

    recipient: str
    link: str
    server: str
    minutes: int


def compose(mail: SignInMail, *, sender: str, subject: str) -> EmailMessage:
    """The mail as plain text with an HTML alternative."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.recipient
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=parseaddr(sender)[1].rpartition("@")[2] or None)
    # RFC 3834: vacation responders must not answer it
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(_TEXT.format(server=mail.server, link=mail.link, minutes=mail.minutes))
    escaped = {key: html.escape(str(value)) for key, value in vars(mail).items()}
    message.add_alternative(_HTML.format(**escaped), subtype="html")
    return message


@dataclass(frozen=True)
class SmtpServer:
    """Where mails go, and how the connection is secured and authenticated."""

    host: str
    port: int
    security: str
    timeout: float
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> SmtpServer:
        return cls(
            host=options["host"],
            port=options["port"],
            security=options["security"],
            timeout=options["timeout"],
            username=options["username"],
            password=options["password"],
            ca_file=options["ca_file"],
        )

    def _tls_context(self) -> ssl.SSLContext:
        # certificate and host name are always checked; ca_file replaces the system's CAs
        return ssl.create_default_context(cafile=self.ca_file)

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self._tls_context()
            )
        connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security == "starttls":
            try:
                connection.starttls(context=self._tls_context())
            except BaseException:
                connection.close()
                raise
        return connection

    def send(self, message: EmailMessage) -> None:
        """Deliver ``message`` to the server; raises OSError or SMTPException."""
        with self._connect() as connection:
            if self.username is not None and self.password is not None:
                connection.login(self.username, self.password)
            connection.send_message(message)
