"""Configuration from the environment, with the embedded default when nothing is set."""

import base64
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from storage.vault import Vault, VaultError, VaultKey

DEFAULT_DATABASE_URL = "sqlite:///netanswer-bot.sqlite3"
_KEY_FILE = "netanswer-bot.keys.json"


class ConfigError(Exception):
    """The bot cannot start with this configuration."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    production: bool
    vault_keys: str | None = field(repr=False)
    vault_index_key: str | None = field(repr=False)
    key_file: Path
    check_floor: float = 0.4  # seconds every card check takes at least (NETANSWER_CHECK_FLOOR_MS)
    rate_limit: int = 20  # messages per chat user per minute (NETANSWER_RATE_LIMIT)
    telephony_secret: str | None = field(default=None, repr=False)
    sandbox_now: datetime | None = None  # NETANSWER_SANDBOX_NOW: where the sandbox clock starts
    telegram_bot_token: str | None = field(default=None, repr=False)
    telegram_webhook_secret: str | None = field(default=None, repr=False)
    telegram_api_base_url: str | None = None
    line_channel_secret: str | None = field(default=None, repr=False)
    line_channel_access_token: str | None = field(default=None, repr=False)
    line_api_base_url: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        if (
            env.get("NETANSWER_SANDBOX_NOW")
            and env.get("NETANSWER_ENV", "").lower() == "production"
        ):
            raise ConfigError("NETANSWER_SANDBOX_NOW is for the sandbox, never for production")
        return cls(
            database_url=env.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            production=env.get("NETANSWER_ENV", "").lower() == "production",
            vault_keys=env.get("VAULT_KEYS"),
            vault_index_key=env.get("VAULT_INDEX_KEY"),
            key_file=Path(env.get("NETANSWER_KEY_FILE") or _KEY_FILE),
            check_floor=int(env.get("NETANSWER_CHECK_FLOOR_MS", "400")) / 1000,
            rate_limit=int(env.get("NETANSWER_RATE_LIMIT", "20")),
            telephony_secret=env.get("TELEPHONY_SECRET") or None,
            sandbox_now=_instant(env.get("NETANSWER_SANDBOX_NOW")),
            telegram_bot_token=env.get("TELEGRAM_BOT_TOKEN") or None,
            telegram_webhook_secret=env.get("TELEGRAM_WEBHOOK_SECRET") or None,
            telegram_api_base_url=env.get("TELEGRAM_API_BASE_URL") or None,
            line_channel_secret=env.get("LINE_CHANNEL_SECRET") or None,
            line_channel_access_token=env.get("LINE_CHANNEL_ACCESS_TOKEN") or None,
            line_api_base_url=env.get("LINE_API_BASE_URL") or None,
        )

    def vault(self) -> Vault:
        """The key ring from VAULT_KEYS/VAULT_INDEX_KEY; outside production a local key
        file is created on first use so the embedded default needs no set-up."""
        try:
            if self.vault_keys or self.vault_index_key:
                return _vault_from(self.vault_keys or "", self.vault_index_key or "")
            if self.production:
                raise ConfigError("NETANSWER_ENV=production needs VAULT_KEYS and VAULT_INDEX_KEY")
            return _vault_from(*_local_keys(self.key_file))
        except VaultError as error:
            raise ConfigError(str(error)) from error


def _instant(text: str | None) -> datetime | None:
    """An ISO 8601 time; without an offset it is read as UTC."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise ConfigError(f"NETANSWER_SANDBOX_NOW is not an ISO 8601 time: {text!r}") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _vault_from(keys: str, index_key: str) -> Vault:
    ring = [VaultKey.parse(part) for part in keys.split(",") if part.strip()]
    if not index_key:
        raise VaultError("VAULT_INDEX_KEY is missing")
    try:
        index_secret = base64.urlsafe_b64decode(index_key)
    except ValueError as error:
        raise VaultError("VAULT_INDEX_KEY is not base64") from error
    return Vault(ring, index_secret)


def _local_keys(path: Path) -> tuple[str, str]:
    if not path.exists():
        index_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
        content = {"vault_keys": VaultKey.generate("k1").export(), "vault_index_key": index_key}
        path.touch(mode=0o600)
        path.write_text(json.dumps(content, indent=2))
    content = json.loads(path.read_text())
    return content["vault_keys"], content["vault_index_key"]
