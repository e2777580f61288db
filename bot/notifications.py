"""SMS and mail (passcodes, the completion mail), as durable as replies: written to the
outbox in the turn's transaction and sent after its commit by the dispatcher, which
retries a failed send with backoff (the retry loop of any worker) and gives up after its
usual limit. Each conversation's SMS, and its mail, are an outbox chat of their own
(channel ``sms`` or ``mail``, the conversation id as user): they leave in order, and a
lease keeps two workers from sending one twice.

A passcode's params are sealed in its row by the vault and it is not sent once expired
(a late code is no use). The answer waits for a gateway that is a local write (the
sandbox: a tester finds the passcode right after the answer); mail over SMTP goes in the
background, so a slow or hanging relay never delays the member.
"""

import asyncio
import json
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from adapters.channels.channel import Outgoing, SendFailed
from bot import dispatcher
from bot.dispatcher import Dispatcher
from bot.turn import Notification, NotificationKind, Services
from flows.letters import letter
from flows.messages import text
from flows.replies import Param, Reply
from storage import outbox
from storage.vault import VaultError

PURPOSE = "notification"  # the vault purpose of a passcode's sealed params
_SEALED = "sealed"

logger = logging.getLogger(__name__)


def mask_phone(phone: str) -> str:
    return "*" * (len(phone) - 4) + phone[-4:]


def mask_email(address: str) -> str:
    local, _, domain = address.rpartition("@")
    return f"{local[:2]}***@{domain}"


class Notifier:
    """Queues a turn's notifications and sends them after the commit, through senders
    it registers with ``dispatcher`` (so the retry loop sends them too)."""

    def __init__(self, services: Services, dispatch: Dispatcher) -> None:
        self._services = services
        self._dispatcher = dispatch
        self._waits = {
            NotificationKind.SMS: services.sms.instant,
            NotificationKind.MAIL: services.mail.instant,
        }
        self._running: set[asyncio.Task[None]] = set()
        for kind in NotificationKind:
            dispatch.register(_Sender(kind, services))

    async def queue(
        self,
        session: AsyncSession,
        conversation_id: int,
        lang: str,
        notifications: Sequence[Notification],
        at: datetime,
    ) -> None:
        """Write the notifications to the outbox in the caller's transaction."""
        vault = self._services.vault
        for note in notifications:
            params: dict[str, Param] = dict(note.params)
            if note.expires is not None:
                sealed = vault.encrypt(json.dumps(params), PURPOSE)
                params = {_SEALED: sealed, "expires": note.expires.isoformat()}
            shown = (
                mask_email(note.to) if note.kind is NotificationKind.MAIL else mask_phone(note.to)
            )
            await outbox.add(
                session,
                conversation_id=conversation_id,
                channel=note.kind.value,
                user_id=str(conversation_id),
                route={"to": note.to, "shown": shown},
                payloads=[dispatcher.payload(Reply(note.key, params), 0)],
                lang=lang,
                at=at,
            )

    async def send(self, conversation_id: int, kinds: Iterable[NotificationKind]) -> None:
        """Send the conversation's queued notifications of these kinds: awaited for a
        local gateway, in the background for one over the network."""
        for kind in sorted(set(kinds)):
            delivery = self._deliver(kind, conversation_id)
            if self._waits[kind]:
                await delivery
            else:
                task = asyncio.create_task(delivery)
                self._running.add(task)
                task.add_done_callback(self._running.discard)

    async def settle(self, seconds: float) -> None:
        """Wait up to ``seconds`` for the sends in the background (before the
        database closes); what is still unsent then is left to the retry loop."""
        if self._running:
            await asyncio.wait(set(self._running), timeout=seconds)

    async def _deliver(self, kind: NotificationKind, conversation_id: int) -> None:
        try:
            await self._dispatcher.deliver(kind.value, str(conversation_id))
        except Exception as error:  # the retry loop sends what is still queued
            logger.warning(
                "%s delivery after the turn failed conversation=%s: %s",
                kind,
                conversation_id,
                type(error).__name__,
            )


class _Sender:
    """The dispatcher's sender of one kind of notification."""

    batch_size = 1

    def __init__(self, kind: NotificationKind, services: Services) -> None:
        self.name = kind.value
        self._kind = kind
        self._services = services

    async def send(self, batch: Sequence[Outgoing]) -> None:
        (item,) = batch
        conversation_id = int(item.user_id)
        params = self._params(item)
        services, to = self._services, item.route["to"]
        try:
            if self._kind is NotificationKind.MAIL:
                message = letter(item.reply.key, item.lang, params)
                await services.mail.send_mail(to, message, conversation_id)
            else:
                await services.sms.send_sms(
                    to, text(item.reply.key, item.lang, params), conversation_id
                )
        except Exception as error:
            # The type only: a gateway's error may quote a server that echoes the
            # message, the address or the credentials.
            logger.warning(
                "%s to %s failed conversation=%s: %s",
                self._kind,
                item.route["shown"],
                conversation_id,
                type(error).__name__,
            )
            raise SendFailed(type(error).__name__) from None

    def _params(self, item: Outgoing) -> dict[str, Any]:
        params = dict(item.reply.params)
        if _SEALED not in params:
            return params
        if self._services.clock() >= datetime.fromisoformat(str(params["expires"])):
            raise SendFailed("expired", permanent=True)
        try:
            opened: dict[str, Any] = json.loads(
                self._services.vault.decrypt(str(params[_SEALED]), PURPOSE)
            )
        except VaultError:  # sealed under a key retired since: it can never be sent
            raise SendFailed("unreadable", permanent=True) from None
        return opened
