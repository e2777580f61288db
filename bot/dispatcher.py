"""Delivering replies from the outbox through the channel that owns them.

The engine queues a turn's replies in the turn's own transaction (:func:`queue`), so a
reply exists exactly when the state change does. After the commit the channel calls
:meth:`Dispatcher.deliver` for that chat; a reply that cannot be sent stays queued
with a later ``next_attempt_at`` and :meth:`Dispatcher.run` sends it again. The
replies of one chat always leave in the order they were written.

A channel that takes several messages in one call (LINE: up to five) says so with its
``batch_size``; it is handed the consecutive replies of one turn together, and they
succeed or fail together.
"""

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from adapters.channels.channel import Channel, Outgoing, SendFailed
from flows.replies import Choice, Reply
from storage import outbox
from storage.database import Database
from storage.models import Conversation, OutboxMessage

LEASE = timedelta(seconds=60)  # longer than any single send may take
MAX_ATTEMPTS = 12  # with the backoff below, about half an hour of retrying
_BACKOFF_CAP = timedelta(minutes=5)
_DUE_BATCH = 100

logger = logging.getLogger(__name__)


def queue(
    session: AsyncSession,
    conversation: Conversation,
    *,
    route: Mapping[str, Any],
    replies: Sequence[Reply],
    at: datetime,
) -> None:
    """Queue a turn's replies to the conversation's chat in the caller's transaction."""
    for part, reply in enumerate(replies):
        outbox.add(
            session,
            conversation_id=conversation.id,
            channel=conversation.channel,
            user_id=conversation.user_id,
            route=route,
            payload=_payload(reply, part),
            lang=conversation.lang,
            at=at,
        )


class Dispatcher:
    def __init__(self, database: Database, clock: Callable[[], datetime]) -> None:
        self._database = database
        self._clock = clock
        self._channels: dict[str, Channel] = {}

    def register(self, channel: Channel) -> None:
        self._channels[channel.name] = channel

    async def deliver(self, channel: str, user_id: str) -> None:
        """Send the chat's due replies, oldest first, until none is left or one fails."""
        sender = self._channels[channel]
        while True:
            now = self._clock()
            async with self._database.transaction() as session:
                rows = await outbox.claim_batch(
                    session, channel, user_id, now=now, until=now + LEASE, size=sender.batch_size
                )
            if not rows or not await self._send(sender, rows):
                return

    async def deliver_due(self) -> None:
        """One sweep of the retry loop: every chat with a reply that is due again."""
        async with self._database.transaction() as session:
            chats = await outbox.due_chats(session, now=self._clock(), limit=_DUE_BATCH)
        for channel, user_id in chats:
            if channel in self._channels:
                await self.deliver(channel, user_id)

    async def run(self, every: float) -> None:
        """The retry loop of a serving process; each sweep's trouble is logged, not fatal."""
        while True:
            await asyncio.sleep(every)
            try:
                await self.deliver_due()
            except Exception as error:  # the database may be away for a while
                logger.warning("outbox sweep failed: %s", type(error).__name__)

    async def _send(self, sender: Channel, rows: Sequence[OutboxMessage]) -> bool:
        try:
            await sender.send([_outgoing(row) for row in rows])
        except SendFailed as failure:
            await self._failed(rows, failure)
            return False
        except Exception as error:  # a sender bug must not lose the reply either
            await self._failed(rows, SendFailed(type(error).__name__))
            return False
        async with self._database.transaction() as session:
            await outbox.mark_sent(session, [row.id for row in rows], at=self._clock())
        return True

    async def _failed(self, rows: Sequence[OutboxMessage], failure: SendFailed) -> None:
        async with self._database.transaction() as session:
            for row in rows:
                await self._record_failure(session, row, failure)

    async def _record_failure(
        self, session: AsyncSession, row: OutboxMessage, failure: SendFailed
    ) -> None:
        attempts = row.attempts + 1
        if failure.permanent or attempts >= MAX_ATTEMPTS:
            logger.error(
                "outbox %s: giving up on %s after %s attempts (%s)",
                row.id,
                row.channel,
                attempts,
                failure.reason,
            )
            await outbox.give_up(session, row.id, error=failure.reason)
            return
        delay = _backoff(attempts, failure.retry_after)
        logger.warning(
            "outbox %s: %s send failed (%s), retry in %ss",
            row.id,
            row.channel,
            failure.reason,
            delay.total_seconds(),
        )
        await outbox.reschedule(
            session, row.id, retry_at=self._clock() + delay, error=failure.reason
        )


def _backoff(attempts: int, retry_after: float | None) -> timedelta:
    if retry_after is not None:
        return timedelta(seconds=retry_after)
    return min(timedelta(seconds=2**attempts), _BACKOFF_CAP)


def _payload(reply: Reply, part: int) -> dict[str, Any]:
    return {
        "key": reply.key,
        "params": dict(reply.params),
        "choices": [[choice.data, choice.label] for choice in reply.choices],
        "sensitive": reply.sensitive,
        "part": part,
    }


def _outgoing(row: OutboxMessage) -> Outgoing:
    # Rows queued before replies were numbered carry no part: each counts as a first.
    part = row.payload.get("part", 0)
    return Outgoing(row.id, row.user_id, row.route, _reply(row.payload), row.lang, part)


def _reply(payload: Mapping[str, Any]) -> Reply:
    return Reply(
        payload["key"],
        payload["params"],
        tuple(Choice(data, label) for data, label in payload["choices"]),
        sensitive=payload["sensitive"],
    )
