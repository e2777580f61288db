"""The vault: field encryption with key ids, rotation while data stays readable, keyed
indexes, password hashing, and the clear start-up errors for missing or wrong keys."""

import asyncio
import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.config import ConfigError, Settings
from bot.runtime import start
from storage.models import Member
from storage.vault import CARD_PURPOSE, Vault, VaultError, VaultKey
from tests.conftest import Chat, Clock
from tests.enroll import VISA, enroll, to_code

_INDEX = base64.urlsafe_b64encode(b"i" * 32).decode()


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
        }
    )


def test_encryption_names_its_key_and_binds_its_purpose() -> None:
    vault = Vault([VaultKey.parse(_key("k1", b"a"))], b"i" * 32)
    token = vault.encrypt("4980001234567000", CARD_PURPOSE)
    assert token.startswith("k1.") and "4980001234567000" not in token
    assert vault.encrypt("4980001234567000", CARD_PURPOSE) != token  # fresh nonce
    assert vault.decrypt(token, CARD_PURPOSE) == "4980001234567000"
    with pytest.raises(VaultError):
        vault.decrypt(token, "sandbox-message")


def test_lookup_index_is_keyed() -> None:
    one = Vault([VaultKey.parse(_key("k1", b"a"))], b"i" * 32)
    other = Vault([VaultKey.parse(_key("k1", b"a"))], b"j" * 32)
    assert one.index("4980001234567000", "card") == one.index("4980001234567000", "card")
    assert one.index("4980001234567000", "card") != other.index("4980001234567000", "card")


@pytest.mark.parametrize("text", ["nocolon", "k1:notbase64!!", "k1:" + "QUFB", ":abc"])
def test_malformed_keys_are_refused(text: str) -> None:
    with pytest.raises(VaultError):
        VaultKey.parse(text)


async def test_password_hash_is_argon2id_and_verifies() -> None:
    vault = Vault([VaultKey.parse(_key("k1", b"a"))], b"i" * 32)
    hashed = await vault.hash_password("Sakura2024x")
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert await vault.verify_password(hashed, "Sakura2024x")
    assert not await vault.verify_password(hashed, "Sakura2024y")
    assert not await vault.verify_password("not a hash", "Sakura2024x")


async def _card_tokens(settings: Settings) -> list[str]:
    runtime = await asyncio.to_thread(start, settings)
    try:
        async with runtime.database.transaction() as session:
            return list((await session.scalars(select(Member.card_token))).all())
    finally:
        await runtime.close()


async def test_rotation_keeps_old_data_readable_and_moves_it_to_the_new_key(
    database_url: str, tmp_path: Path, clock: Clock
) -> None:
    old = _settings(database_url, tmp_path, _key("k1", b"a"))
    runtime = await asyncio.to_thread(start, old, clock=clock)
    chat = Chat(runtime)
    await enroll(chat)
    await to_code(Chat(runtime, user="midway"))  # a card number inside an unfinished enrollment
    await runtime.close()

    ring = _settings(database_url, tmp_path, f"{_key('k2', b'b')},{_key('k1', b'a')}")
    [token] = await _card_tokens(ring)
    assert token.startswith("k1.")
    runtime = await asyncio.to_thread(start, ring, clock=clock)
    midway = Chat(runtime, user="midway")
    await midway.send(VISA.code)  # the old-key card number in the slots still works
    assert midway.state == "reregister"
    await runtime.close()

    from storage import rotation

    # the member's card, the unfinished one in its slots, the passcode SMS and the mail
    assert await asyncio.to_thread(rotation.rotate, database_url, ring.vault()) == 4
    [token] = await _card_tokens(ring)
    assert token.startswith("k2.")
    assert ring.vault().decrypt(token, CARD_PURPOSE) == VISA.number.replace(" ", "")

    newest_only = _settings(database_url, tmp_path, _key("k2", b"b"))
    await _card_tokens(newest_only)  # starts: nothing needs k1 any more


async def test_a_missing_key_is_a_clear_start_up_error(
    database_url: str, tmp_path: Path, clock: Clock
) -> None:
    runtime = await asyncio.to_thread(
        start, _settings(database_url, tmp_path, _key("k1", b"a")), clock=clock
    )
    await enroll(Chat(runtime))
    await runtime.close()
    with pytest.raises(ConfigError, match="'k1'"):
        await asyncio.to_thread(start, _settings(database_url, tmp_path, _key("k2", b"b")))
    with pytest.raises(ConfigError, match="'k1' does not open"):
        await asyncio.to_thread(start, _settings(database_url, tmp_path, _key("k1", b"c")))


def test_production_needs_vault_keys(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"NETANSWER_ENV": "production", "NETANSWER_KEY_FILE": str(tmp_path / "k.json")}
    )
    with pytest.raises(ConfigError, match="VAULT_KEYS"):
        settings.vault()
    assert not (tmp_path / "k.json").exists()


def test_vault_rotate_command(database_url: str, tmp_path: Path) -> None:
    command = str(Path(sys.executable).parent / "netanswer-bot")
    env = {**os.environ, "DATABASE_URL": database_url, "VAULT_INDEX_KEY": _INDEX}
    first = {**env, "VAULT_KEYS": _key("k1", b"a")}
    subprocess.run(
        [command, "chat", "--json"],
        input='{"text": "/start"}\n{"text": "4980 0012 3456 7000"}\n',
        env=first,
        check=True,
        capture_output=True,
        text=True,
    )
    ring = {**env, "VAULT_KEYS": f"{_key('k2', b'b')},{_key('k1', b'a')}"}
    result = subprocess.run(
        [command, "vault", "rotate"], env=ring, check=True, capture_output=True, text=True
    )
    assert "1" in result.stdout


def test_a_sandbox_clock_is_refused_in_production() -> None:
    with pytest.raises(ConfigError, match="NETANSWER_SANDBOX_NOW"):
        Settings.from_env(
            {"NETANSWER_ENV": "production", "NETANSWER_SANDBOX_NOW": "2026-11-24T10:00:00"}
        )
