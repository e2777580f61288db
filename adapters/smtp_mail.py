"""Mail over SMTP: each letter as a multipart (plain text and HTML) UTF-8 message,
sent through the operator's relay with TLS (STARTTLS, or TLS from the start for
``smtps://``) and a login, within a deadline.

Every mail goes over its own connection: mails are rare (a passcode, a completion),
and a fresh connection has nothing to go stale between them.
"""

import asyncio
import logging
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid, parseaddr
from urllib.parse import unquote, urlsplit

import aiosmtplib

from flows.letters import Letter

logger = logging.getLogger(__name__)

#: Seconds to connect, and for each SMTP command, the whole message included.
TIMEOUT = 10.0
#: Seconds for the whole mail (sent after the member's answer, see bot/notifications.py).
DEADLINE = 20.0
_PORTS = {"smtp": 587, "smtps": 465}


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False  # TLS from the first byte (smtps://) instead of STARTTLS

    @classmethod
    def from_url(cls, url: str) -> "SmtpServer":
        """``smtp://user:password@host:587`` or ``smtps://user:password@host:465``.
        The ValueError says what is wrong, never the value: it may hold a password."""
        parts = urlsplit(url)
        if parts.scheme not in _PORTS:
            raise ValueError("the scheme is not smtp or smtps")
        try:
            port = parts.port or _PORTS[parts.scheme]
        except ValueError:
            raise ValueError("the port is not a number from 1 to 65535") from None
        if not parts.hostname:
            raise ValueError("there is no host")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("nothing may follow the port")
        if (parts.username is None) != (parts.password is None):
            raise ValueError("a user needs a password and a password a user")
        return cls(
            host=parts.hostname,
            port=port,
            username=None if parts.username is None else unquote(parts.username),
            password=None if parts.password is None else unquote(parts.password),
            tls=parts.scheme == "smtps",
        )


def sender_address(mail_from: str) -> str:
    """The address of a From value (``Netアンサー <no-reply@example.jp>`` or a bare
    address); ValueError when there is none."""
    _, address = parseaddr(mail_from)
    if "@" not in address or "\r" in mail_from or "\n" in mail_from:
        raise ValueError("not an address")
    return address


class SmtpMail:
    instant = False  # a relay may be slow or hang: sent after the member's answer

    def __init__(self, server: SmtpServer, mail_from: str) -> None:
        self._server = server
        self._from = mail_from
        self._sender = sender_address(mail_from)

    async def send_mail(self, address: str, letter: Letter, conversation_id: int | None) -> None:
        server = self._server
        async with asyncio.timeout(DEADLINE):
            await aiosmtplib.send(
                self._message(address, letter),
                sender=self._sender,
                recipients=[address],
                hostname=server.host,
                port=server.port,
                username=server.username,
                password=server.password,
                use_tls=server.tls,
                start_tls=not server.tls,  # required, never "if offered"
                timeout=TIMEOUT,
            )
        logger.info("mail sent conversation=%s", conversation_id)

    def _message(self, address: str, letter: Letter) -> EmailMessage:
        message = EmailMessage(policy=SMTP)
        message["From"] = self._from
        message["To"] = address
        message["Subject"] = letter.subject
        message["Date"] = formatdate(localtime=True)
        message["Message-ID"] = make_msgid(domain=self._sender.rpartition("@")[2])
        # base64: every relay carries it, whether it speaks 8BITMIME or not.
        message.set_content(letter.text, cte="base64")
        message.add_alternative(letter.html, subtype="html", cte="base64")
        return message
