"""The completion mail over SMTP, against a real SMTP server (aiosmtpd) on loopback
that demands STARTTLS and a login: what the member's mailbox receives, and what
happens when the relay refuses."""

import asyncio
import datetime
import email.policy
import ipaddress
import json
import logging
import os
import random
import re
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from adapters import smtp_mail
from adapters.smtp_mail import SmtpMail, SmtpServer
from bot.config import ConfigError, Settings
from bot.dispatcher import MAX_ATTEMPTS
from bot.runtime import Runtime, start
from flows.letters import letter
from storage.models import OutboxMessage
from tests.conftest import Chat, Clock, passcode_in
from tests.enroll import DINERS, EMAIL, PASSWORD, VISA, to_confirm, to_passcode

_COMMAND = str(Path(sys.executable).parent / "netanswer-bot")
SMTP_USER = "netanswer-bot"
SMTP_PASSWORD = "Relay/pw-7x9Q"
_IN_URL = "Relay%2Fpw-7x9Q"  # "/" as a URL writes it
MAIL_FROM = "Netアンサー <no-reply@netanswer.example.jp>"


@dataclass
class Relay:
    """An SMTP server that takes mail only after STARTTLS (or on a TLS port) and a
    login with SMTP_USER / SMTP_PASSWORD, and keeps what it was given."""

    port: int = 0
    mechanism: str = ""  # the one AUTH mechanism offered, when only one is
    received: list[Envelope] = field(default_factory=list)
    encrypted: list[bool] = field(default_factory=list)
    logins: list[tuple[str, str, bool]] = field(default_factory=list)  # mechanism, user, right

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received.append(envelope)
        self.encrypted.append(session.ssl is not None)
        return "250 OK"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        right = data.login == SMTP_USER.encode() and data.password == SMTP_PASSWORD.encode()
        self.logins.append((mechanism, data.login.decode(), right))
        return AuthResult(success=right, handled=False)  # not handled: the server says 535

    def url(self, *, password: str | None = None, scheme: str = "smtp") -> str:
        return f"{scheme}://{SMTP_USER}:{password or _IN_URL}@127.0.0.1:{self.port}"

    def message(self, index: int = -1) -> tuple[bytes, EmailMessage]:
        raw = self.received[index].original_content
        assert isinstance(raw, bytes)
        parsed = BytesParser(policy=email.policy.default).parsebytes(raw)
        assert isinstance(parsed, EmailMessage)
        return raw, parsed


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the address the bot dials)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "relay.pem", folder / "relay.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture
def trusted(certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    """The relay's certificate is the only one the bot trusts (OpenSSL's SSL_CERT_FILE,
    as an operator with a private CA would set it); the server's TLS context."""
    cert_file, key_file = certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


async def _serve(
    relay: Relay, make: Any, tls: ssl.SSLContext | None = None, port: int = 0
) -> AsyncIterator[Relay]:
    server = await asyncio.get_running_loop().create_server(make, "127.0.0.1", port, ssl=tls)
    relay.port = server.sockets[0].getsockname()[1]
    yield relay
    server.close()
    await server.wait_closed()


@pytest.fixture(params=["PLAIN", "LOGIN"])
async def relay(request: pytest.FixtureRequest, trusted: ssl.SSLContext) -> AsyncIterator[Relay]:
    """STARTTLS required, then AUTH with the one mechanism of the parameter."""
    relay = Relay(mechanism=request.param)
    async for running in _serve(relay, _smtp(relay, trusted)):
        yield running


def _smtp(relay: Relay, trusted: ssl.SSLContext) -> Callable[[], SMTP]:
    other = {"PLAIN": "LOGIN", "LOGIN": "PLAIN"}[relay.mechanism or "PLAIN"]

    def make() -> SMTP:
        return SMTP(
            relay,
            tls_context=trusted,
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            auth_exclude_mechanism=[other],
            authenticator=relay.authenticate,
        )

    return make


async def _bot(settings: Settings, clock: Clock, **env: str) -> Runtime:
    return await asyncio.to_thread(
        start, settings.with_env(**env), clock=clock, rng=random.Random(7)
    )


async def _complete(chat: Chat) -> str:
    """Enroll up to the completion; returns the Net Answer ID the member was shown."""
    code = await to_passcode(chat)
    await chat.send(code)
    assert chat.state == "wallet", chat.keys
    assert chat.last is not None
    return next(str(r.params["netid"]) for r in chat.last.replies if r.key == "done")


async def test_the_completion_mail_is_a_japanese_multipart_mail(
    relay: Relay, settings: Settings, clock: Clock
) -> None:
    bot = await _bot(settings, clock, SMTP_URL=relay.url(), MAIL_FROM=MAIL_FROM)
    try:
        chat = Chat(bot)
        netid = await _complete(chat)
        in_outbox = await chat.sandbox()
    finally:
        await bot.close()

    assert relay.logins == [(relay.mechanism, SMTP_USER, True)]
    assert relay.encrypted == [True]
    assert in_outbox == []  # the mail went by SMTP, not into the sandbox outbox
    envelope = relay.received[0]
    assert envelope.mail_from == "no-reply@netanswer.example.jp"
    assert envelope.rcpt_tos == [EMAIL]
    raw, message = relay.message()
    head = raw.split(b"\r\n\r\n")[0]
    assert head.isascii()  # the Japanese subject and name travel as encoded words
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == "【Netアンサー】ご登録完了のお知らせ"
    assert message["From"].addresses[0].display_name == "Netアンサー"
    assert message["From"].addresses[0].addr_spec == "no-reply@netanswer.example.jp"
    assert message["To"].addresses[0].addr_spec == EMAIL
    assert message["Date"].datetime is not None
    assert message["Message-ID"].startswith("<")
    assert message["Message-ID"].endswith("@netanswer.example.jp>")
    plain, html = message.iter_parts()
    assert [plain.get_content_type(), html.get_content_type()] == ["text/plain", "text/html"]
    assert {plain.get_content_charset(), html.get_content_charset()} == {"utf-8"}
    assert f"NetアンサーID：{netid}" in plain.get_content()
    assert f"NetアンサーID：{netid}" in html.get_content()
    assert '<html lang="ja">' in html.get_content()
    readable = "\n".join(
        [*(str(value) for value in message.values()), plain.get_content(), html.get_content()]
    )
    for secret in (PASSWORD, VISA.number, VISA.number.replace(" ", ""), VISA.pin, SMTP_PASSWORD):
        # As itself: a PIN's four digits may well occur inside the random Message-ID.
        assert not re.search(rf"(?<![0-9A-Za-z]){re.escape(secret)}(?![0-9A-Za-z])", readable)
    for secret in (PASSWORD, VISA.number.replace(" ", ""), SMTP_PASSWORD, _IN_URL):
        assert secret.encode() not in raw


async def test_an_english_member_gets_an_english_mail(
    relay: Relay, settings: Settings, clock: Clock
) -> None:
    bot = await _bot(settings, clock, SMTP_URL=relay.url(), MAIL_FROM=MAIL_FROM)
    try:
        netid = await _complete(Chat(bot, lang="en"))
    finally:
        await bot.close()

    _, message = relay.message()
    assert message["Subject"] == "[Net Answer] Your registration is complete"
    plain, html = message.iter_parts()
    assert f"Net Answer ID: {netid}" in plain.get_content()
    assert f"Net Answer ID: {netid}" in html.get_content()
    assert '<html lang="en">' in html.get_content()


async def test_a_refused_login_leaves_the_turn_and_the_reply_as_they_were(
    relay: Relay, settings: Settings, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bot = await _bot(
        settings, clock, SMTP_URL=relay.url(password="Wrong-pw-4kZ"), MAIL_FROM=MAIL_FROM
    )
    try:
        chat = Chat(bot)
        netid = await _complete(chat)
        texts = chat.texts
        await bot.engine.notifier.settle(5)
        [row] = await _mail_rows(bot)
    finally:
        await bot.close()

    assert relay.logins and not any(right for _, _, right in relay.logins)
    assert relay.received == []
    assert texts[0] == (
        f"ご登録ありがとうございました。お客様のNetアンサーIDは {netid} です。"
        "同じIDをご登録のメールアドレスにもお送りしました。"
    )
    assert chat.state == "wallet"
    assert chat.last is not None
    ours = [r for r in caplog.records if not r.name.startswith("mail.")]  # not the server's
    lines = [r.getMessage() for r in ours if r.name.startswith(("bot.", "adapters."))]
    assert [line for line in lines if " failed" in line] == [
        f"mail to ha***@example.com failed conversation={chat.last.conversation_id}: "
        "SMTPAuthenticationError",
        f"outbox {row.id}: mail to ha***@example.com send failed (SMTPAuthenticationError), "
        "retry in 2.0s",
    ]
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "SMTPAuthenticationError")
    logged = "\n".join(r.getMessage() + str(r.exc_info or "") for r in ours)
    for secret in ("Wrong-pw-4kZ", SMTP_PASSWORD, _IN_URL, PASSWORD):
        assert secret not in logged
    said = "\n".join(lines)
    assert netid not in said and EMAIL not in said  # nor what the mail would have said


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_smtps_sends_over_tls_from_the_first_byte(trusted: ssl.SSLContext) -> None:
    relay = Relay()

    def make() -> SMTP:
        # The socket speaks only TLS; aiosmtpd does not see that, so it is told the
        # login needs no STARTTLS first.
        return SMTP(
            relay, auth_required=True, auth_require_tls=False, authenticator=relay.authenticate
        )

    async for running in _serve(relay, make, tls=trusted):
        gateway = SmtpMail(SmtpServer.from_url(running.url(scheme="smtps")), MAIL_FROM)
        await gateway.send_mail(EMAIL, letter("mail.passcode", "ja", {"code": "246810"}), 1)
    assert relay.logins == [("PLAIN", SMTP_USER, True)]
    _, message = relay.message()
    assert message["Subject"] == "【Netアンサー】ワンタイムパスコードのお知らせ"
    assert "246810" in next(message.iter_parts()).get_content()


@pytest.mark.parametrize("short", ["TIMEOUT", "DEADLINE"])
async def test_a_relay_that_never_answers_is_given_up_in_time(
    monkeypatch: pytest.MonkeyPatch, short: str
) -> None:
    monkeypatch.setattr(smtp_mail, "TIMEOUT", 5.0)
    monkeypatch.setattr(smtp_mail, "DEADLINE", 5.0)
    monkeypatch.setattr(smtp_mail, short, 0.3)  # one step, or the whole mail
    silent = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    gateway = SmtpMail(SmtpServer("127.0.0.1", port, SMTP_USER, SMTP_PASSWORD), MAIL_FROM)
    began = time.monotonic()
    with pytest.raises(TimeoutError):
        await gateway.send_mail(EMAIL, letter("mail.done", "ja", {"netid": "abc12345"}), 1)
    assert time.monotonic() - began < 2
    silent.close()
    await silent.wait_closed()


def test_production_without_smtp_url_refuses_to_start(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "NETANSWER_ENV": "production",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite3'}",
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    result = subprocess.run(
        [_COMMAND, "chat", "--json"], env=env, input="", capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "netanswer-bot: NETANSWER_ENV=production needs SMTP_URL and MAIL_FROM: "
        "mail must not stay in the sandbox outbox"
    ]
    with_smtp = Settings.from_env(
        {**env, "SMTP_URL": "smtp://u:p@relay.example.jp", "MAIL_FROM": "a@example.jp"}
    )
    with pytest.raises(ConfigError) as refused:  # the issuer is still the sandbox's
        start(with_smtp)
    assert "SMTP_URL" not in str(refused.value)


@pytest.mark.parametrize(
    "url, reason",
    [
        ("https://u:Hunter-pw2@relay.example.jp", "the scheme is not smtp or smtps"),
        ("smtp://u:Hunter-pw2@:587", "there is no host"),
        ("smtp://u:Hunter-pw2@relay.example.jp:99999", "the port is not a number"),
        ("smtp://u:Hunter-pw2@relay.example.jp:x25", "the port is not a number"),
        ("smtp://u:Hunter-pw2@relay.example.jp/inbox", "nothing may follow the port"),
        ("smtp://u@relay.example.jp", "a user needs a password"),
    ],
)
def test_a_bad_smtp_url_is_named_and_never_shown(url: str, reason: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"SMTP_URL": url, "MAIL_FROM": "a@example.jp"})
    said = str(refused.value)
    assert said.startswith("SMTP_URL must be smtp://user:password@host:587")
    assert reason in said and "\n" not in said
    assert "Hunter-pw2" not in said and "relay.example.jp" not in said


@pytest.mark.parametrize(
    "mail_from, said",
    [
        (None, "SMTP_URL needs MAIL_FROM"),
        ("no-reply", "MAIL_FROM must be an address"),
        ("Netアンサー", "MAIL_FROM must be an address"),
    ],
)
def test_mail_from_goes_with_smtp_url(mail_from: str | None, said: str) -> None:
    env = {"SMTP_URL": "smtp://u:Hunter-pw2@relay.example.jp"}
    with pytest.raises(ConfigError, match=said) as refused:
        Settings.from_env({**env, "MAIL_FROM": mail_from} if mail_from else env)
    assert "Hunter-pw2" not in str(refused.value)


def test_the_command_says_a_bad_smtp_url_in_one_line(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "SMTP_URL": "smtp://u:Hunter-pw2@relay.example.jp:port",
        "MAIL_FROM": "a@example.jp",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite3'}",
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    result = subprocess.run(
        [_COMMAND, "chat", "--json"], env=env, input="", capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "netanswer-bot: SMTP_URL must be smtp://user:password@host:587 (STARTTLS) or "
        "smtps://user:password@host:465 (TLS), but the port is not a number from 1 to 65535 "
        "(its value is not shown)"
    ]


def test_the_url_gives_host_port_login_and_tls() -> None:
    assert SmtpServer.from_url("smtp://bot:p%40ss%3Aword@relay.example.jp") == SmtpServer(
        "relay.example.jp", 587, "bot", "p@ss:word"
    )
    assert SmtpServer.from_url("smtps://relay.example.jp") == SmtpServer(
        "relay.example.jp", 465, tls=True
    )
    assert "p@ss" not in repr(SmtpServer.from_url("smtp://bot:p%40ss@relay.example.jp:25"))
    settings = Settings.from_env({"SMTP_URL": "smtp://bot:Hunter-pw2@x.jp", "MAIL_FROM": "a@x.jp"})
    assert "Hunter-pw2" not in repr(settings)


def test_the_html_body_escapes_what_it_shows() -> None:
    shown = letter("mail.done", "en", {"netid": "<b>&amp;\"x'"})
    assert "<b>&amp;\"x'" in shown.text
    assert "&lt;b&gt;&amp;amp;&quot;x&#x27;" in shown.html and "<b>" not in shown.html
    assert shown.html.count("<p>") == 3  # a paragraph per block of the text


async def test_an_old_carrier_address_is_delivered_as_written(relay: Relay) -> None:
    address = "taro..sato.@docomo.ne.jp"  # accepted by the enrollment, as the carriers do
    gateway = SmtpMail(SmtpServer.from_url(relay.url()), MAIL_FROM)
    await gateway.send_mail(address, letter("mail.done", "ja", {"netid": "sato2024ab"}), 1)
    assert relay.received[0].rcpt_tos == [address]
    raw, _ = relay.message()
    assert f"To: {address}\r\n".encode() in raw


# The mail outbox: durable, retried, sent once, never in the member's way ---------------


async def _mail_rows(bot: Runtime) -> list[OutboxMessage]:
    async with bot.database.transaction() as session:
        query = select(OutboxMessage).where(OutboxMessage.channel == "mail")
        return list((await session.scalars(query.order_by(OutboxMessage.id))).all())


def _free_port() -> int:
    """A loopback port where no relay listens (yet)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _ours(caplog: pytest.LogCaptureFixture) -> str:
    """What the bot logged (not the SMTP server), tracebacks included."""
    return "\n".join(
        r.getMessage() + str(r.exc_info or "")
        for r in caplog.records
        if r.name.startswith(("bot.", "adapters.", "storage."))
    )


async def test_a_relay_down_at_first_gets_the_mail_once_it_is_up_from_any_worker(
    settings: Settings, clock: Clock, trusted: ssl.SSLContext, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    port = _free_port()
    relay = Relay(port=port, mechanism="PLAIN")
    env = {"SMTP_URL": relay.url(), "MAIL_FROM": MAIL_FROM}
    bot, other = await _bot(settings, clock, **env), await _bot(settings, clock, **env)
    try:
        chat = Chat(bot)
        netid = await _complete(chat)  # the relay is down: the member is answered anyway
        assert chat.texts[0].startswith("ご登録ありがとうございました。")
        await bot.engine.notifier.settle(5)
        [queued] = await _mail_rows(bot)
        assert (queued.status, queued.attempts, queued.last_error) == (
            "pending",
            1,
            "SMTPConnectError",
        )
        async for _ in _serve(relay, _smtp(relay, trusted), port=port):  # the relay is up
            clock.advance(seconds=2)  # the first retry is due
            # Both workers' retry loops sweep at once: one of them sends it.
            await asyncio.gather(bot.dispatcher.deliver_due(), other.dispatcher.deliver_due())
            clock.advance(minutes=10)
            await asyncio.gather(bot.dispatcher.deliver_due(), other.dispatcher.deliver_due())
        [sent] = await _mail_rows(bot)
    finally:
        await other.close()
        await bot.close()

    assert len(relay.received) == 1
    assert relay.received[0].rcpt_tos == [EMAIL]
    assert f"NetアンサーID：{netid}" in next(relay.message()[1].iter_parts()).get_content()
    assert (sent.status, sent.attempts) == ("sent", 2)
    logged = _ours(caplog)
    assert f"conversation={queued.conversation_id}: SMTPConnectError" in logged
    assert "mail to ha***@example.com" in logged
    assert EMAIL not in logged and SMTP_PASSWORD not in logged and _IN_URL not in logged


async def test_a_hanging_relay_does_not_hold_the_members_answer(
    settings: Settings, clock: Clock
) -> None:
    connected, release = asyncio.Event(), asyncio.Event()

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connected.set()  # accepted, and no greeting until the test lets go
        await release.wait()
        writer.close()

    silent = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    bot = await _bot(settings, clock, SMTP_URL=f"smtp://u:p@127.0.0.1:{port}", MAIL_FROM=MAIL_FROM)
    try:
        chat = Chat(bot)
        code = await to_passcode(chat)
        # A guard against a hang only (the relay never answers on its own).
        await asyncio.wait_for(chat.send(code), 30)
        assert chat.state == "wallet"
        await asyncio.wait_for(connected.wait(), 30)
        [in_flight] = await _mail_rows(bot)
        # The member has the answer while the relay still holds the mail's connection:
        # no outcome is recorded yet.
        assert (in_flight.status, in_flight.attempts) == ("pending", 0)
        release.set()
        await bot.engine.notifier.settle(30)
        [after] = await _mail_rows(bot)
    finally:
        release.set()
        await bot.close()
        silent.close()
        await silent.wait_closed()

    assert (after.status, after.attempts) == ("pending", 1)  # for the retry loop


async def test_the_mail_is_given_up_after_the_outboxs_limit_with_a_masked_line(
    settings: Settings, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    url = f"smtp://{SMTP_USER}:{_IN_URL}@127.0.0.1:{_free_port()}"  # nobody listens
    bot = await _bot(settings, clock, SMTP_URL=url, MAIL_FROM=MAIL_FROM)
    try:
        await _complete(Chat(bot))
        await bot.engine.notifier.settle(5)
        for _ in range(MAX_ATTEMPTS):
            clock.advance(minutes=6)  # past the longest backoff
            await bot.dispatcher.deliver_due()
        [given_up] = await _mail_rows(bot)
    finally:
        await bot.close()

    assert (given_up.status, given_up.attempts) == ("failed", MAX_ATTEMPTS)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [
        f"outbox {given_up.id}: giving up on mail to ha***@example.com after {MAX_ATTEMPTS} "
        "attempts (SMTPConnectError)"
    ]
    logged = _ours(caplog)
    assert EMAIL not in logged and SMTP_PASSWORD not in logged and _IN_URL not in logged


async def test_a_passcode_mail_waits_sealed_and_is_not_sent_once_expired(
    settings: Settings, clock: Clock, trusted: ssl.SSLContext
) -> None:
    """A landline member takes the passcode by mail while the relay is down."""
    port = _free_port()
    relay = Relay(port=port, mechanism="PLAIN")
    bot = await _bot(settings, clock, SMTP_URL=relay.url(), MAIL_FROM=MAIL_FROM)
    try:
        chat = Chat(bot)
        await to_confirm(chat, DINERS)
        await chat.send(choice="confirm:ok")
        await chat.send(choice="otp:email")
        assert chat.state == "otp"
        await bot.engine.notifier.settle(5)
        [first] = await _mail_rows(bot)
        clock.advance(minutes=1)  # a new code may be asked for after a minute
        await chat.send(choice="otp:resend")
        await bot.engine.notifier.settle(5)
        async for _ in _serve(relay, _smtp(relay, trusted), port=port):
            clock.advance(minutes=4, seconds=30)  # the first code has expired, not the second
            await bot.dispatcher.deliver_due()
            await bot.dispatcher.deliver_due()
        expired, second = await _mail_rows(bot)
        assert len(relay.received) == 1  # only the code still valid went out
        _, message = relay.message()
        code = passcode_in(next(message.iter_parts()).get_content())
        await chat.send(code)
        assert chat.state == "wallet", chat.keys
    finally:
        await bot.close()

    assert relay.received[0].rcpt_tos == [DINERS.email]
    assert (expired.status, expired.last_error) == ("failed", "expired")
    assert second.status == "sent"
    for row in (first, expired, second):  # sealed: the code is nowhere in the row
        assert code not in json.dumps(row.payload) and "code" not in row.payload["params"]
