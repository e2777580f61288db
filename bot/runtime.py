"""The running bot: settings turned into a database, a vault, gateways and an engine."""

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from adapters.sandbox_issuer import SandboxIssuer
from adapters.sandbox_outbox import SandboxOutbox
from bot.config import ConfigError, Settings
from bot.engine import Engine
from bot.turn import Services
from storage import rotation, schema
from storage.database import Database
from storage.vault import Vault, VaultError


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    settings: Settings
    database: Database
    vault: Vault
    engine: Engine

    async def close(self) -> None:
        await self.database.close()


def _running_from(moment: datetime) -> Callable[[], datetime]:
    """A clock that starts at ``moment`` and then runs like any other."""
    started = time.monotonic()

    def clock() -> datetime:
        return moment + timedelta(seconds=time.monotonic() - started)

    return clock


def start(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utc_now,
    rng: random.Random | None = None,
    upgrade: bool = True,
) -> Runtime:
    """Build the bot. Only the sandbox gateways exist so far, and they never run in
    production: there the bot refuses to start instead of faking an issuer."""
    if settings.production:
        raise ConfigError(
            "NETANSWER_ENV=production needs a real issuer, SMS and mail gateway; "
            "the sandbox ones refuse to run in production"
        )
    if settings.sandbox_now is not None:  # testers move the sandbox's clock between runs
        clock = _running_from(settings.sandbox_now)
    vault = settings.vault()
    if upgrade:
        schema.upgrade(settings.database_url)
    try:
        rotation.check_keys(settings.database_url, vault)
    except VaultError as error:
        raise ConfigError(str(error)) from error
    database = Database(settings.database_url)
    outbox = SandboxOutbox(database, vault, clock)
    services = Services(
        database=database,
        vault=vault,
        issuer=SandboxIssuer(today=clock().date()),
        sms=outbox,
        mail=outbox,
        clock=clock,
        rng=rng or random.SystemRandom(),
        check_floor=settings.check_floor,
        rate_limit=settings.rate_limit,
    )
    return Runtime(settings, database, vault, Engine(services))
