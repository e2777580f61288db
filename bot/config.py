"""Configuration from the environment, with the embedded default when nothing is set.

Values are read with Starlette's ``Config``; a value of the wrong kind stops the bot
with one line naming the variable and what it should be. Each channel reads its own
variables (``adapters/channels/``) from :attr:`Settings.environ`.
"""

import base64
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from starlette.config import Config

from adapters.smtp_mail import SmtpServer, sender_address
from storage.vault import Vault, VaultError, VaultKey

_DATABASE_FILE = "netanswer-bot.sqlite3"
_KEY_FILE = "netanswer-bot.keys.json"
LOG_FILE = "netanswer-bot.log"
#: Where Club-On / Millennium members register; the issuer's site until an operator
#: sets the page itself (NETANSWER_CLUB_ON_URL).
CLUB_ON_URL = "https://www.saisoncard.co.jp/"

T = TypeVar("T")


class ConfigError(Exception):
    """The bot cannot start with this configuration."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    production: bool
    vault_keys: str | None = field(repr=False)
    vault_index_key: str | None = field(repr=False)
    key_file: Path
    #: Where the embedded default keeps its database, keys and log, whatever the
    #: current directory: ``$XDG_DATA_HOME/netanswer-bot`` (``~/.local/share/...``).
    data_dir: Path
    check_floor: float = 0.4  # seconds every card check takes at least (NETANSWER_CHECK_FLOOR_MS)
    rate_limit: int = 20  # messages per chat user per minute (NETANSWER_RATE_LIMIT)
    telephony_secret: str | None = field(default=None, repr=False)
    sandbox_now: datetime | None = None  # NETANSWER_SANDBOX_NOW: where the sandbox clock starts
    club_on_url: str = CLUB_ON_URL  # NETANSWER_CLUB_ON_URL
    db_timeout: float = 5.0  # NETANSWER_DB_TIMEOUT: connect, pool wait, statement, lock
    turn_deadline: float = 9.0  # NETANSWER_TURN_DEADLINE: a webhook answers 503 by then
    order_window: float = 0.1  # NETANSWER_ORDER_WINDOW_MS: events of a chat arriving together
    smtp: SmtpServer | None = None  # SMTP_URL: unset, mail stays in the sandbox outbox
    mail_from: str | None = None  # MAIL_FROM: the sender, needed with SMTP_URL
    transcript_retention_days: int = 180  # TRANSCRIPT_RETENTION_DAYS: `transcripts purge`
    #: PUBLIC_URL: where members' browsers reach this server (LINE's sign-in page);
    #: unset, LINE members sign in in the chat only.
    public_url: str | None = None
    #: The whole environment the settings were read from; channels read theirs here.
    environ: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        config = Config(environ={key: value for key, value in env.items() if value})
        production = config("NETANSWER_ENV", default="").lower() == "production"
        sandbox_now = _read(config, "NETANSWER_SANDBOX_NOW", _instant, None, "an ISO 8601 time")
        if sandbox_now is not None and production:
            raise ConfigError("NETANSWER_SANDBOX_NOW is for the sandbox, never for production")
        data_dir = _data_dir(config)
        smtp, mail_from = _mail(config)
        return cls(
            database_url=config("DATABASE_URL", default=f"sqlite:///{data_dir / _DATABASE_FILE}"),
            production=production,
            vault_keys=config("VAULT_KEYS", default=None),
            vault_index_key=config("VAULT_INDEX_KEY", default=None),
            key_file=Path(config("NETANSWER_KEY_FILE", default=str(data_dir / _KEY_FILE))),
            data_dir=data_dir,
            check_floor=_read(
                config, "NETANSWER_CHECK_FLOOR_MS", _count, 400, "a whole number of milliseconds"
            )
            / 1000,
            rate_limit=_read(
                config, "NETANSWER_RATE_LIMIT", _positive, 20, "a whole number above 0"
            ),
            telephony_secret=config("TELEPHONY_SECRET", default=None),
            sandbox_now=sandbox_now,
            db_timeout=_read(
                config, "NETANSWER_DB_TIMEOUT", _seconds, 5.0, "a number of seconds above 0"
            ),
            turn_deadline=_read(
                config, "NETANSWER_TURN_DEADLINE", _seconds, 9.0, "a number of seconds above 0"
            ),
            order_window=_read(
                config, "NETANSWER_ORDER_WINDOW_MS", _count, 100, "a whole number of milliseconds"
            )
            / 1000,
            club_on_url=_read(
                config, "NETANSWER_CLUB_ON_URL", _https_url, CLUB_ON_URL, "an https:// address"
            ),
            smtp=smtp,
            mail_from=mail_from,
            transcript_retention_days=_read(
                config,
                "TRANSCRIPT_RETENTION_DAYS",
                _positive,
                180,
                "a whole number of days above 0",
            ),
            public_url=_read(
                config,
                "PUBLIC_URL",
                _public_https if production else _web_url,
                None,
                "the server's public address, https://host[/path]"
                if production
                else "the server's public address, http(s)://host[/path]",
            ),
            environ=env,
        )

    def with_env(self, **changes: str | None) -> "Settings":
        """The settings read again with some variables changed (None removes one)."""
        env = {**self.environ, **{key: value for key, value in changes.items() if value}}
        for key, value in changes.items():
            if value is None:
                env.pop(key, None)
        return Settings.from_env(env)

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


def _data_dir(config: Config) -> Path:
    home = config("HOME", default=None)
    xdg = config("XDG_DATA_HOME", default=None)
    base = Path(xdg) if xdg else Path(home or Path.home()) / ".local" / "share"
    return base / "netanswer-bot"


def _mail(config: Config) -> tuple[SmtpServer | None, str | None]:
    """SMTP_URL and MAIL_FROM, read together. An error never shows SMTP_URL's value:
    it may hold a password."""
    url = config("SMTP_URL", default=None)
    if url is None:
        return None, None
    try:
        server = SmtpServer.from_url(url)
    except ValueError as error:
        raise ConfigError(
            "SMTP_URL must be smtp://user:password@host:587 (STARTTLS) or "
            f"smtps://user:password@host:465 (TLS), but {error} (its value is not shown)"
        ) from None
    mail_from = config("MAIL_FROM", default=None)
    if mail_from is None:
        raise ConfigError("SMTP_URL needs MAIL_FROM, the sender (e.g. no-reply@example.jp)")
    try:
        sender_address(mail_from)
    except ValueError:
        raise ConfigError(
            f"MAIL_FROM must be an address, optionally with a name "
            f"('Netアンサー <no-reply@example.jp>'), not {mail_from!r}"
        ) from None
    return server, mail_from


def _read(config: Config, key: str, cast: Callable[[str], T], default: T, what: str) -> T:
    try:
        value: Any = config(key, cast=cast, default=default)
    except ValueError:
        raise ConfigError(f"{key} must be {what}, not {config(key)!r}") from None
    return value  # type: ignore[no-any-return]


def _count(text: str) -> int:
    number = int(text)
    if number < 0:
        raise ValueError(text)
    return number


def _positive(text: str) -> int:
    number = int(text)
    if number < 1:
        raise ValueError(text)
    return number


def _seconds(text: str) -> float:
    number = float(text)
    if not 0 < number < 3600:
        raise ValueError(text)
    return number


def _https_url(text: str) -> str:
    if not text.startswith("https://") or len(text) <= len("https://"):
        raise ValueError(text)
    return text


def _web_url(text: str) -> str:
    """An http(s) address without query or fragment, kept without a trailing slash."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(text)
    return text.rstrip("/")


def _public_https(text: str) -> str:
    return _web_url(_https_url(text))


def _instant(text: str) -> datetime:
    """An ISO 8601 time; without an offset it is read as UTC."""
    moment = datetime.fromisoformat(text)
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
