"""The completion mail over SMTP, against a real SMTP server (aiosmtpd) on loopback
that demands STARTTLS and a login: what the member's mailbox receives, and what
happens when the relay refuses."""

import asyncio
import datetime
import email.policy
import ipaddress
import logging
import os
import random
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator
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

from adapters import smtp_mail
from adapters.smtp_mail import SmtpMail, SmtpServer
from bot.config import ConfigError, Settings
from bot.runtime import Runtime, start
from flows.letters import letter
from tests.conftest import Chat, Clock
from tests.enroll import EMAIL, PASSWORD, VISA, to_passcode

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
    relay: Relay, make: Any, tls: ssl.SSLContext | None = None
) -> AsyncIterator[Relay]:
    server = await asyncio.get_running_loop().create_server(make, "127.0.0.1", 0, ssl=tls)
    relay.port = server.sockets[0].getsockname()[1]
    yield relay
    server.close()
    await server.wait_closed()


@pytest.fixture(params=["PLAIN", "LOGIN"])
async def relay(request: pytest.FixtureRequest, trusted: ssl.SSLContext) -> AsyncIterator[Relay]:
    """STARTTLS required, then AUTH with the one mechanism of the parameter."""
    relay = Relay(mechanism=request.param)
    other = {"PLAIN": "LOGIN", "LOGIN": "PLAIN"}[request.param]

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

    async for running in _serve(relay, make):
        yield running


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
        assert secret not in readable
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
    assert [r.getMessage() for r in ours if "delivery failed" in r.getMessage()] == [
        f"mail delivery failed conversation={chat.last.conversation_id}: SMTPAuthenticationError"
    ]
    logged = "\n".join(r.getMessage() + str(r.exc_info or "") for r in ours)
    for secret in ("Wrong-pw-4kZ", SMTP_PASSWORD, _IN_URL, PASSWORD):
        assert secret not in logged
    said = "\n".join(r.getMessage() for r in ours if r.name.startswith(("bot.", "adapters.")))
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
