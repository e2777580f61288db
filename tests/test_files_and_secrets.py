"""Files and secrets at start-up (review issue 16, part 4): private file modes, each
channel's credentials checked at start, every vault key a stored ciphertext needs
(enrollments in progress included), exact key ids in rotation, and a database that
becomes writable again without a restart."""

import asyncio
import base64
import json
import logging
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from adapters.channels.line import LineSettings
from adapters.channels.telegram import TelegramSettings
from bot import files
from bot.config import ConfigError, Settings
from bot.runtime import Runtime, start
from bot.server import create_app
from storage import rotation
from storage.health import probe_write
from storage.models import Conversation, Member, ProcessedEvent, SandboxMessage
from tests.channels.conftest import LINE_SECRET
from tests.channels.conftest import SECRET as TELEGRAM_SECRET
from tests.channels.conftest import Member as TelegramMember
from tests.channels.telegram_stand_in import TOKEN as TELEGRAM_TOKEN
from tests.channels.telegram_stand_in import TelegramStandIn
from tests.conftest import Chat, Clock
from tests.enroll import VISA, enroll, to_code

_INDEX = base64.urlsafe_b64encode(b"i" * 32).decode()
_COMMAND = str(Path(sys.executable).parent / "netanswer-bot")


def _key(key_id: str, byte: bytes) -> str:
    return f"{key_id}:{base64.urlsafe_b64encode(byte * 32).decode()}"


def _settings(database_url: str, tmp_path: Path, keys: str) -> Settings:
    return Settings.from_env(
        {
            "DATABASE_URL": database_url,
            "VAULT_KEYS": keys,
            "VAULT_INDEX_KEY": _INDEX,
            "NETANSWER_KEY_FILE": str(tmp_path / "unused.json"),
            "NETANSWER_CHECK_FLOOR_MS": "0",
            "NETANSWER_RATE_LIMIT": "1000",
        }
    )


# Channel credentials

_LINE_TOKEN = "line-access-token/with+base64="
_LINE = {
    "LINE_CHANNEL_SECRET": LINE_SECRET,
    "LINE_CHANNEL_ACCESS_TOKEN": _LINE_TOKEN,
    "PUBLIC_URL": "https://bot.example.jp",
}


def test_the_test_credentials_have_the_real_shape() -> None:
    assert LineSettings.from_env(_LINE) is not None
    assert TelegramSettings.from_env(
        {"TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN, "TELEGRAM_POLLING": "1"}
    )


@pytest.mark.parametrize(
    "secret",
    ["x", " ", "secret-abc", LINE_SECRET[:-1], LINE_SECRET + "0", "g" * 32, f" {LINE_SECRET}"],
)
def test_a_line_channel_secret_must_be_32_hex_characters(secret: str) -> None:
    with pytest.raises(ValueError, match="LINE_CHANNEL_SECRET must be") as refused:
        LineSettings.from_env({**_LINE, "LINE_CHANNEL_SECRET": secret})
    if len(secret.strip()) > 4:
        assert secret.strip() not in str(refused.value)  # a secret is never repeated


@pytest.mark.parametrize("token", [" ", "token with space", "token\n", "\ttoken"])
def test_a_line_access_token_must_not_hold_whitespace(token: str) -> None:
    with pytest.raises(ValueError, match="LINE_CHANNEL_ACCESS_TOKEN must not"):
        LineSettings.from_env({**_LINE, "LINE_CHANNEL_ACCESS_TOKEN": token})


def test_a_line_secret_in_upper_case_hex_is_accepted() -> None:
    settings = LineSettings.from_env({**_LINE, "LINE_CHANNEL_SECRET": LINE_SECRET.upper()})
    assert settings is not None


@pytest.mark.parametrize(
    "token",
    [
        "x",
        " ",
        "123456",
        ":AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
        "bot:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
        "110201543:short",
        "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsa w",
        "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw\n",
        "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw=",
        "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw:x",
    ],
)
def test_a_telegram_bot_token_must_have_botfathers_form(token: str) -> None:
    with pytest.raises(ValueError, match="TELEGRAM_BOT_TOKEN must be"):
        TelegramSettings.from_env({"TELEGRAM_BOT_TOKEN": token, "TELEGRAM_POLLING": "1"})


@pytest.mark.parametrize(
    "token", ["110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", "7:" + "A-_z9" * 8, TELEGRAM_TOKEN]
)
def test_well_formed_telegram_tokens_are_accepted(token: str) -> None:
    assert TelegramSettings.from_env({"TELEGRAM_BOT_TOKEN": token, "TELEGRAM_POLLING": "1"})


@pytest.mark.parametrize("secret", ["has space", "x" * 257, "a.b", "ü"])
def test_a_telegram_webhook_secret_is_checked_even_when_polling(secret: str) -> None:
    env = {"TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN, "TELEGRAM_WEBHOOK_SECRET": secret}
    for polling in ("", "1"):
        with pytest.raises(ValueError, match="TELEGRAM_WEBHOOK_SECRET"):
            TelegramSettings.from_env({**env, "TELEGRAM_POLLING": polling})


def test_a_bad_credential_stops_serve_with_one_line_naming_it(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "XDG_DATA_HOME": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite3'}",
        "LINE_CHANNEL_SECRET": "x",
        "LINE_CHANNEL_ACCESS_TOKEN": _LINE_TOKEN,
    }
    result = subprocess.run(
        [_COMMAND, "serve", "--port", "9"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert result.stderr.startswith("netanswer-bot: LINE_CHANNEL_SECRET must be")
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1


# Vault keys: enrollments in progress, exact key ids


async def _midway(settings: Settings, clock: Clock) -> None:
    """An enrollment stopped at the security code: its card number is in the slots."""
    runtime = await asyncio.to_thread(start, settings, clock=clock)
    try:
        await to_code(Chat(runtime, user="midway"))
    finally:
        await runtime.close()


async def test_a_dropped_key_an_enrollment_in_progress_needs_stops_start_up(
    database_url: str, tmp_path: Path, clock: Clock
) -> None:
    await _midway(_settings(database_url, tmp_path, _key("k1", b"a")), clock)
    dropped = _settings(database_url, tmp_path, _key("k2", b"b"))
    with pytest.raises(ConfigError, match=r"enrollment in progress .*'k1'.*VAULT_KEYS"):
        await asyncio.to_thread(start, dropped, clock=clock)
    wrong = _settings(database_url, tmp_path, _key("k1", b"c"))
    with pytest.raises(ConfigError, match="'k1' does not open"):
        await asyncio.to_thread(start, wrong, clock=clock)


async def _tokens(settings: Settings) -> list[str]:
    """Every ciphertext stored: members' cards, sandbox messages, cards in slots."""
    runtime = await asyncio.to_thread(start, settings)
    try:
        async with runtime.database.transaction() as session:
            cards = (await session.scalars(select(Member.card_token))).all()
            bodies = (await session.scalars(select(SandboxMessage.body_token))).all()
            slots = (await session.scalars(select(Conversation.slots))).all()
    finally:
        await runtime.close()
    return [*cards, *bodies, *(slot["card_token"] for slot in slots if "card_token" in slot)]


@pytest.mark.parametrize(("old", "new"), [("kx1", "k_1"), ("k-old", "k%")])
async def test_rotation_matches_key_ids_exactly(
    database_url: str, tmp_path: Path, clock: Clock, old: str, new: str
) -> None:
    first = _settings(database_url, tmp_path, _key(old, b"a"))
    runtime = await asyncio.to_thread(start, first, clock=clock)
    try:
        await enroll(Chat(runtime))  # a member's card, and the passcode SMS and mail
        await to_code(Chat(runtime, user="midway"))  # a card number in the slots
    finally:
        await runtime.close()
    ring = _settings(database_url, tmp_path, f"{_key(new, b'b')},{_key(old, b'a')}")
    assert {token.partition(".")[0] for token in await _tokens(ring)} == {old}

    assert await asyncio.to_thread(rotation.rotate, database_url, ring.vault()) == 4
    tokens = await _tokens(ring)
    assert len(tokens) == 4 and {token.partition(".")[0] for token in tokens} == {new}
    newest_only = _settings(database_url, tmp_path, _key(new, b"b"))
    await _tokens(newest_only)  # starts: nothing needs the old key any more
    midway = Chat(await asyncio.to_thread(start, newest_only, clock=clock), user="midway")
    try:
        await midway.send(VISA.code)  # the rotated card number in the slots still opens
        assert midway.state == "reregister"
    finally:
        await midway.bot.close()


def test_rotating_with_a_wrong_key_is_one_line_and_moves_nothing(
    database_url: str, tmp_path: Path, clock: Clock
) -> None:
    asyncio.run(_midway(_settings(database_url, tmp_path, _key("k1", b"a")), clock))
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "VAULT_INDEX_KEY": _INDEX,
        "VAULT_KEYS": f"{_key('k2', b'b')},{_key('k1', b'c')}",  # k1 is the wrong key
    }
    result = subprocess.run(
        [_COMMAND, "vault", "rotate"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr == "netanswer-bot: vault key 'k1' does not open this field\n"
    assert result.stdout == ""
    ring = _settings(database_url, tmp_path, f"{_key('k2', b'b')},{_key('k1', b'a')}")
    assert [token[:3] for token in asyncio.run(_tokens(ring))] == ["k1."]


# A database that cannot be written, then can


def _make_read_only(path: Path) -> Callable[[], None]:
    """Make the file read-only for this process and return what undoes it. Root
    ignores permission bits, so as root the file is made immutable (``chattr +i``);
    SQLite then opens it read-only, as it would a 0400 file for anyone else."""
    if os.geteuid() != 0:
        path.chmod(0o400)
        return lambda: path.chmod(0o600)
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", path], check=False).returncode != 0:
        pytest.skip("root cannot make a file read-only here (chattr +i is unavailable)")

    def undo() -> None:
        subprocess.run([chattr, "-i", path], check=True)

    return undo


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_health_and_webhooks_recover_once_the_database_is_writable_again(
    settings: Settings, clock: Clock, tmp_path: Path
) -> None:
    used = await asyncio.to_thread(start, settings)  # the schema, while writable
    await probe_write(used.database)  # and a first connection: the file is in WAL mode now
    await used.close()
    stand_in = TelegramStandIn()
    stand_in.start()
    served = settings.with_env(
        TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN,
        TELEGRAM_WEBHOOK_SECRET=TELEGRAM_SECRET,
        TELEGRAM_API_BASE_URL=stand_in.base_url,
    )
    writable = _make_read_only(tmp_path / "bot.sqlite3")
    try:
        runtime = await asyncio.to_thread(start, served, clock=clock)  # starts: reads only
        app = create_app(runtime, retry_every=3600)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bot.test") as web:
                member = TelegramMember(web, stand_in)
                assert (await web.get("/healthz")).status_code == 503
                assert (await member.post(member.message("/start"))).status_code == 503
                assert (await web.get("/healthz")).status_code == 503

                writable()
                writable = _nothing
                health = await web.get("/healthz")
                assert (health.status_code, health.json()) == (200, {"status": "ok"})
                await member.say("/start")  # the same worker, no restart
                await member.say("/start")
    finally:
        writable()
        stand_in.stop()
    assert len(stand_in.called("sendMessage")) >= 2


def _nothing() -> None:
    pass


async def test_the_health_probe_keeps_nothing(bot: Runtime) -> None:
    for _ in range(3):
        await probe_write(bot.database)
    async with bot.database.transaction() as session:
        assert (await session.scalars(select(ProcessedEvent))).all() == []


# File modes


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _embedded(tmp_path: Path) -> Settings:
    """The embedded default: database, keys and log in the data folder."""
    return Settings.from_env(
        {
            "XDG_DATA_HOME": str(tmp_path / "share"),
            "NETANSWER_CHECK_FLOOR_MS": "0",
            "NETANSWER_RATE_LIMIT": "1000",
        }
    )


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask, which would leave a file created without care 0644."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.mark.usefixtures("umask_022")
async def test_the_files_the_bot_creates_are_its_users_alone(tmp_path: Path, clock: Clock) -> None:
    settings = _embedded(tmp_path)
    runtime = await asyncio.to_thread(start, settings, clock=clock)
    try:
        await to_code(Chat(runtime))  # the database open and written: -wal and -shm exist
        data = settings.data_dir
        assert _mode(data) == 0o700
        assert {path.name: _mode(path) for path in data.iterdir()} == {
            "netanswer-bot.sqlite3": 0o600,
            "netanswer-bot.sqlite3-wal": 0o600,
            "netanswer-bot.sqlite3-shm": 0o600,
            "netanswer-bot.keys.json": 0o600,
            "sandbox-issuer.sqlite3": 0o600,  # the sandbox issuer's own records
        }
    finally:
        await runtime.close()


@pytest.mark.usefixtures("umask_022")
def test_a_rollback_journal_takes_the_database_files_mode(tmp_path: Path) -> None:
    settings = Settings.from_env({"DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite3'}"})
    files.prepare(settings)
    connection = sqlite3.connect(tmp_path / "bot.sqlite3", isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("CREATE TABLE t (x)")
        assert _mode(tmp_path / "bot.sqlite3-journal") == 0o600
        connection.execute("ROLLBACK")
    finally:
        connection.close()
    assert _mode(tmp_path / "bot.sqlite3") == 0o600


def test_the_terminal_chats_log_file_is_private(tmp_path: Path) -> None:
    unset = {"DATABASE_URL", "VAULT_KEYS", "VAULT_INDEX_KEY", "NETANSWER_KEY_FILE"}
    env = {key: value for key, value in os.environ.items() if key not in unset}
    env["XDG_DATA_HOME"] = str(tmp_path / "share")
    result = subprocess.run(
        [_COMMAND, "chat"],
        input="/start\n",
        env=env,
        umask=0o022,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    data = tmp_path / "share" / "netanswer-bot"
    assert str(data) in result.stderr
    assert _mode(data) == 0o700
    modes = {path.name: _mode(path) for path in data.iterdir()}
    assert modes["netanswer-bot.log"] == 0o600
    assert set(modes.values()) == {0o600}, modes


async def test_files_others_may_read_are_named_at_start(
    tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _embedded(tmp_path)
    await (await asyncio.to_thread(start, settings, clock=clock)).close()
    data = settings.data_dir
    data.chmod(0o755)
    (data / "netanswer-bot.sqlite3").chmod(0o644)
    settings.key_file.chmod(0o640)
    (data / "netanswer-bot.log").touch(mode=0o666)
    (data / "netanswer-bot.log").chmod(0o666)
    caplog.set_level(logging.WARNING, logger="bot.files")
    await (await asyncio.to_thread(start, settings, clock=clock)).close()
    warned = [record.getMessage() for record in caplog.records if record.name == "bot.files"]
    assert len(warned) == 4, warned
    for path, mode in [
        (data, "0755"),
        (data / "netanswer-bot.sqlite3", "0644"),
        (settings.key_file, "0640"),
        (data / "netanswer-bot.log", "0666"),
    ]:
        assert any(message.startswith(f"{path} is mode {mode}") for message in warned), path
    secrets = json.loads(settings.key_file.read_text())
    assert all(secret not in caplog.text for secret in secrets.values())  # paths, never contents

    for path in data.iterdir():
        path.chmod(0o600)
    data.chmod(0o700)
    caplog.clear()
    await (await asyncio.to_thread(start, settings, clock=clock)).close()
    assert [record for record in caplog.records if record.name == "bot.files"] == []
