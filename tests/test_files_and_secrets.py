"""Files and secrets at start-up (review issue 16, part 4): private file modes, each
channel's credentials checked at start, every vault key a stored ciphertext needs
(enrollments in progress included), exact key ids in rotation, and a database that
becomes writable again without a restart."""

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.channels.line import LineSettings
from adapters.channels.telegram import TelegramSettings
from bot.config import Settings
from tests.channels.conftest import LINE_SECRET
from tests.channels.telegram_stand_in import TOKEN as TELEGRAM_TOKEN

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
_LINE = {"LINE_CHANNEL_SECRET": LINE_SECRET, "LINE_CHANNEL_ACCESS_TOKEN": _LINE_TOKEN}


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
