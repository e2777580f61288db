"""The running bot: settings turned into a database, a vault, gateways, an engine and
the dispatcher; it is what channels talk to (:class:`~adapters.channels.channel.Conversations`)."""

import asyncio
import random
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from adapters.channels.channel import (
    ENTRY_PAGE,
    Channel,
    History,
    Inbound,
    Outcome,
    Outgoing,
)
from adapters.gateways import Mail
from adapters.sandbox_issuer import SandboxIssuer
from adapters.sandbox_outbox import SandboxOutbox
from adapters.smtp_mail import SmtpMail
from bot import files
from bot.config import ConfigError, Settings
from bot.dispatcher import Dispatcher
from bot.engine import Engine
from bot.pictures import Pictures
from bot.registry import CHANNELS, FLOWS
from bot.turn import Services
from flows.replies import Chart
from storage import conversations, members, outbox, rotation, sandbox, schema
from storage.database import Database, aware
from storage.sandbox import Delivered
from storage.vault import Vault, VaultError

#: The sandbox issuer's own records, in the data folder.
ISSUER_LEDGER = "sandbox-issuer.sqlite3"
#: Seconds closing waits for mail still going out in the background (within a server's
#: shutdown bound); what is unsent then stays queued for the next worker's retry loop.
SETTLE = 3.0


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    settings: Settings
    database: Database
    vault: Vault
    engine: Engine
    dispatcher: Dispatcher
    pictures: Pictures = field(default_factory=Pictures)  # of sent replies, drawn once

    async def handle(self, inbound: Inbound, *, route: Mapping[str, Any] | None = None) -> Outcome:
        return await self.engine.handle(inbound, route=route)

    async def deliver(self, channel: str, user_id: str) -> None:
        await self.dispatcher.deliver(channel, user_id)

    async def resume(self, channel: str, user_id: str) -> None:
        await self.dispatcher.resume(channel, user_id)

    async def waiting(self, channel: str, user_ids: Collection[str]) -> list[str]:
        if not user_ids:
            return []
        async with self.database.transaction() as session:
            return await outbox.waiting_chats(session, channel, user_ids)

    async def history(self, channel: str, user_id: str) -> History:
        async with self.database.transaction() as session:
            conversation = await conversations.find(session, channel, user_id)
            if conversation is None:
                return History(None, None)
            entries = await conversations.transcript(session, conversation.id)
            queued = await outbox.pending(session, channel, user_id)
        return History(conversation.id, conversation.lang, entries, queued)

    async def sandbox_messages(self, conversation_id: int, after_id: int) -> list[Delivered]:
        async with self.database.transaction() as session:
            return await sandbox.read(
                session, self.vault, after_id=after_id, conversation_id=conversation_id
            )

    def now(self) -> datetime:
        return self.engine.services.clock()

    async def queued(self, channel: str, reply_id: int) -> Outgoing | None:
        return await self.dispatcher.queued(channel, reply_id)

    async def picture(self, chart: Chart, lang: str) -> bytes:
        # Imported here: matplotlib takes half a second to load, and most runs draw nothing.
        from bot import charts

        return await asyncio.to_thread(charts.png, chart, lang)

    async def sent_picture(self, channel: str, reply_id: int) -> bytes | None:
        async with self.database.transaction() as session:
            row = await outbox.get(session, reply_id)
            if row is None or row.channel != channel or "image" not in row.payload:
                return None
            link = await members.chat_link(session, channel, row.user_id)
        if link is None or aware(link.linked_at) > aware(row.created_at):
            return None  # unlinked, or linked again since: the chart is not its to show
        chart, lang = Chart.from_json(row.payload["image"]), row.lang
        return await self.pictures.of(reply_id, lambda: self.picture(chart, lang))

    def secret(self, purpose: str) -> bytes:
        return self.vault.derived_key(purpose)

    def attach(self, channel: Channel) -> None:
        """Let the dispatcher send this channel's queued replies, the sign-in flow
        ask it for link tokens where it links accounts itself, and the engine offer its
        chats the secure-entry page where it opens one."""
        self.dispatcher.register(channel)
        if channel.capabilities.links_accounts:
            self.engine.services.link_tokens[channel.name] = channel.link_token
        if channel.entry_link(ENTRY_PAGE) is not None:
            self.engine.services.entry_channels.add(channel.name)

    async def close(self) -> None:
        await self.engine.notifier.settle(SETTLE)
        await self.engine.services.issuer.close()
        await self.database.close()


def _standing_at(moment: datetime) -> Callable[[], datetime]:
    """A clock that shows ``moment`` for the whole run. A running one would start
    anew in every run, so how long a run took would move its events against the next
    run's and make a tester's "61 seconds later" sometimes less than a minute."""

    def clock() -> datetime:
        return moment

    return clock


def _mail(settings: Settings, outbox: SandboxOutbox) -> Mail:
    if settings.smtp is None or settings.mail_from is None:  # read together: both or neither
        return outbox
    return SmtpMail(settings.smtp, settings.mail_from)


def start(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utc_now,
    rng: random.Random | None = None,
    upgrade: bool = True,
) -> Runtime:
    """Build the bot. Mail goes over SMTP when SMTP_URL is set; the issuer and SMS
    exist only as sandbox gateways so far, and they never run in production: there the
    bot refuses to start instead of faking an issuer."""
    if settings.production and settings.smtp is None:
        raise ConfigError(
            "NETANSWER_ENV=production needs SMTP_URL and MAIL_FROM: "
            "mail must not stay in the sandbox outbox"
        )
    if settings.production:
        raise ConfigError(
            "NETANSWER_ENV=production needs a real issuer and SMS gateway; "
            "the sandbox ones refuse to run in production"
        )
    if settings.sandbox_now is not None:  # testers move the sandbox's clock between runs
        clock = _standing_at(settings.sandbox_now)
    if not settings.production:  # the embedded default keeps its files here
        settings.data_dir.mkdir(mode=files.DIR_MODE, parents=True, exist_ok=True)
    files.prepare(settings)  # before anything opens the database
    vault = settings.vault()
    if upgrade:
        schema.upgrade(settings.database_url)
    elif not schema.is_current(settings.database_url):
        raise ConfigError(
            "the database schema is not current: run `netanswer-bot db upgrade` first "
            "(the Procfile's release phase does)"
        )
    try:
        rotation.check_keys(settings.database_url, vault)
    except VaultError as error:
        raise ConfigError(str(error)) from error
    database = Database(settings.database_url, timeout=settings.db_timeout)
    outbox = SandboxOutbox(database, vault, clock)
    ledger = settings.data_dir / ISSUER_LEDGER
    files.create_private(ledger)
    services = Services(
        database=database,
        vault=vault,
        issuer=SandboxIssuer(clock().date(), ledger),
        sms=outbox,
        mail=_mail(settings, outbox),
        clock=clock,
        rng=rng or random.SystemRandom(),
        check_floor=settings.check_floor,
        rate_limit=settings.rate_limit,
        club_on_url=settings.club_on_url,
        turn_deadline=settings.turn_deadline,
        order_window=settings.order_window,
        public_url=settings.public_url,
    )
    capabilities = {channel.name: channel.capabilities for channel in CHANNELS}
    engine = Engine(services, FLOWS, capabilities, Dispatcher(database, clock))
    return Runtime(settings, database, vault, engine, engine.dispatcher)
