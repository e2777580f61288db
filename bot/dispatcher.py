"""Delivering replies from the outbox through the channel that owns them.

The engine queues a turn's replies in the turn's own transaction (:func:`queue`), so a
reply exists exactly when the state change does. After the commit the channel calls
:meth:`Dispatcher.deliver` for that chat; a reply that cannot be sent stays queued
with a later ``next_attempt_at`` and the retry loop (:meth:`Dispatcher.deliver_due`)
sends it again. The replies of one chat always leave in the order they were written.

A turn whose replies nothing older of the chat waits before leases them to its own
worker in its transaction (:func:`queue` with ``lease``); that worker hands them over
(:meth:`Dispatcher.hold`) and sends them without claiming them again, and records
each batch sent together with its look for the chat's next replies: two transactions
per message, the turn's and one after the send.

A reply is sent at least once. Its outcome (sent, or failed and when to retry) is
recorded right after the send; when the database is away at that moment, the outcome
is kept in memory and recorded first thing once it is back, so the chat neither stalls
behind the row's lease nor gets the reply again. Only a worker that dies between
sending and recording leaves the outcome unknown: after the lease the row is sent again,
and that repeat is logged.

A channel that takes several messages in one call (LINE: up to five) says so with its
``batch_size``; it is handed the consecutive replies of one turn together, and they
succeed or fail together.
"""

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from adapters.channels.channel import Outgoing, SendFailed
from flows.replies import Chart, Choice, Reply
from storage import outbox
from storage.database import Database, aware
from storage.models import Conversation, OutboxMessage

LEASE = timedelta(seconds=60)  # longer than any single send may take
MAX_ATTEMPTS = 12  # with the backoff below, about half an hour of retrying
_BACKOFF_CAP = timedelta(minutes=5)
_DUE_BATCH = 100
SWEEP_BUDGET = 10.0  # seconds after which a sweep starts no more chats

logger = logging.getLogger(__name__)


class Sender(Protocol):
    """What sends a channel's rows: a :class:`~adapters.channels.channel.Channel`, or
    the SMS and mail gateways (bot/notifications.py)."""

    @property
    def name(self) -> str: ...

    @property
    def batch_size(self) -> int: ...

    async def send(self, batch: Sequence[Outgoing]) -> None: ...


async def queue(
    session: AsyncSession,
    conversation: Conversation,
    *,
    route: Mapping[str, Any],
    replies: Sequence[Reply],
    at: datetime,
    lease: bool = False,
) -> list[OutboxMessage]:
    """Queue a turn's replies to the conversation's chat in the caller's transaction.
    With ``lease``, they are leased to the caller's worker unless an older reply of the
    chat is still to be sent (then whoever sends that one sends these after it); the
    leased rows are returned, to be handed to :meth:`Dispatcher.hold` after the commit."""
    if lease:
        lease = not await outbox.waiting(session, conversation.channel, conversation.user_id)
    rows = await outbox.add(
        session,
        conversation_id=conversation.id,
        channel=conversation.channel,
        user_id=conversation.user_id,
        route=route,
        payloads=[payload(reply, part) for part, reply in enumerate(replies)],
        lang=conversation.lang,
        at=at,
        leased_until=at + LEASE if lease else None,
    )
    return rows if lease else []


class Dispatcher:
    def __init__(self, database: Database, clock: Callable[[], datetime]) -> None:
        self._database = database
        self._clock = clock
        self._channels: dict[str, Sender] = {}
        self._unrecorded: list[Callable[[AsyncSession], Awaitable[None]]] = []
        #: Replies a committed turn leased to this worker, per chat, not sent yet.
        self._held: dict[tuple[str, str], list[OutboxMessage]] = {}
        self.repeats = 0  # replies sent again because an earlier outcome was unknown

    def register(self, channel: Sender) -> None:
        self._channels[channel.name] = channel

    def sends(self, channel: str) -> bool:
        """Whether this worker sends ``channel``'s replies itself."""
        return channel in self._channels

    def hold(self, rows: Sequence[OutboxMessage]) -> None:
        """Keep replies a committed turn leased to this worker for :meth:`deliver`."""
        for row in rows:
            self._held.setdefault((row.channel, row.user_id), []).append(row)

    async def deliver(self, channel: str, user_id: str) -> None:
        """Send the chat's due replies, oldest first, until none is left or one fails."""
        sender = self._channels[channel]
        await self._record_unrecorded()
        rows = self._held.pop((channel, user_id), [])
        if rows and not _time_to_send(rows[0], self._clock()):
            rows = []  # forgotten: the retry loop claims them once the lease is over
        if not rows:
            async with self._database.transaction() as session:
                rows = await self._claim(sender, user_id, session)
        while rows:
            self._note_repeats(rows)
            batch = _batch(rows, sender.batch_size)
            rows = await self._send(sender, batch, rows[len(batch) :])

    async def _claim(
        self, sender: Sender, user_id: str, session: AsyncSession
    ) -> list[OutboxMessage]:
        """Lease the chat's next due replies, one send's worth."""
        now = self._clock()
        return await outbox.claim_batch(
            session, sender.name, user_id, now=now, until=now + LEASE, size=sender.batch_size
        )

    async def queued(self, channel: str, reply_id: int) -> Outgoing | None:
        """A reply queued for ``channel`` by its outbox id, sent or not; None when
        there is no such row or it belongs to another channel."""
        async with self._database.transaction() as session:
            row = await outbox.get(session, reply_id)
        return _outgoing(row) if row is not None and row.channel == channel else None

    async def resume(self, channel: str, user_id: str) -> None:
        """The chat can be reached again (a browser reconnected): its replies waiting
        for a retry are due now, and sent, in order."""
        async with self._database.transaction() as session:
            await outbox.due_now(session, channel, user_id, now=self._clock())
        await self.deliver(channel, user_id)

    async def deliver_due(self, budget: float = SWEEP_BUDGET) -> None:
        """One sweep of the retry loop: the chats with a reply that is due again, until
        ``budget`` seconds have gone (a send is never cut: the next sweep goes on)."""
        ends = time.monotonic() + budget
        await self._record_unrecorded()
        self._drop_lapsed()
        # Replies leased to this worker whose delivery failed before sending them (the
        # pool was exhausted, say) go now, not after their lease.
        for channel, user_id in list(self._held):
            if time.monotonic() > ends:
                return
            await self.deliver(channel, user_id)
        async with self._database.transaction() as session:
            chats = await outbox.due_chats(session, now=self._clock(), limit=_DUE_BATCH)
        for channel, user_id in chats:
            if time.monotonic() > ends:
                return
            if channel in self._channels:
                await self.deliver(channel, user_id)

    def _drop_lapsed(self) -> None:
        """Forget held replies with too little of their lease left to be sent in (see
        :func:`_time_to_send`): the retry loop claims them like any other after it."""
        now = self._clock()
        for chat, rows in list(self._held.items()):
            if not _time_to_send(rows[0], now):
                del self._held[chat]

    async def _send(
        self, sender: Sender, batch: Sequence[OutboxMessage], rest: Sequence[OutboxMessage]
    ) -> list[OutboxMessage]:
        """Send one batch and record its outcome; returns what to send next: the rest
        leased already, or the chat's next due replies claimed in the same transaction
        that records this batch sent. Nothing when the send failed, or the outcome
        could not be recorded."""
        try:
            await sender.send([_outgoing(row) for row in batch])
        except Exception as error:  # a sender bug must not lose the reply either
            failure = error if isinstance(error, SendFailed) else SendFailed(type(error).__name__)
            await self._record(self._failure_recorder(batch, rest, failure))
            return []
        ids, at = [row.id for row in batch], self._clock()

        async def sent(session: AsyncSession) -> None:
            await outbox.mark_sent(session, ids, at=at)

        try:
            async with self._database.transaction() as session:
                await sent(session)
                return list(rest) or await self._claim(sender, batch[0].user_id, session)
        except Exception as error:
            self._keep(sent, error)
            self.hold(rest)  # sent by a later sweep, once this outcome is recorded
            return []

    async def _record(self, outcome: Callable[[AsyncSession], Awaitable[None]]) -> bool:
        """Record an outcome now, or keep it for when the database is back."""
        try:
            async with self._database.transaction() as session:
                await outcome(session)
        except Exception as error:
            self._keep(outcome, error)
            return False
        return True

    def _keep(self, outcome: Callable[[AsyncSession], Awaitable[None]], error: Exception) -> None:
        logger.warning("outbox outcome kept until the database is back: %s", type(error).__name__)
        self._unrecorded.append(outcome)

    async def _record_unrecorded(self) -> None:
        """Record kept outcomes, oldest first; each is taken before it is recorded, so
        two callers (a webhook's delivery, the retry loop) never record one twice."""
        while self._unrecorded:
            outcome = self._unrecorded.pop(0)
            try:
                async with self._database.transaction() as session:
                    await outcome(session)
            except Exception:
                self._unrecorded.insert(0, outcome)
                raise

    def _failure_recorder(
        self, rows: Sequence[OutboxMessage], rest: Sequence[OutboxMessage], failure: SendFailed
    ) -> Callable[[AsyncSession], Awaitable[None]]:
        """The failed batch's outcome; the leased replies behind it are released (they
        wait behind the failed one, which goes first when it is due again)."""
        behind = [row.id for row in rest]

        async def failed(session: AsyncSession) -> None:
            for row in rows:
                await self._record_failure(session, row, failure)
            if behind:
                await outbox.release(session, behind)

        return failed

    def _note_repeats(self, rows: Sequence[OutboxMessage]) -> None:
        head = rows[0]  # the rest of a batch went with it; its claims count is current
        if head.claims - 1 > head.attempts:  # claimed before with no outcome recorded
            self.repeats += len(rows)
            logger.warning(
                "outbox %s: sending again, the outcome of an earlier send is unknown "
                "(%s repeats so far)",
                head.id,
                self.repeats,
            )

    async def _record_failure(
        self, session: AsyncSession, row: OutboxMessage, failure: SendFailed
    ) -> None:
        attempts = row.attempts + 1
        if failure.permanent or attempts >= MAX_ATTEMPTS:
            logger.error(
                "outbox %s: giving up on %s after %s attempts (%s)",
                row.id,
                _recipient(row),
                attempts,
                failure.reason,
            )
            await outbox.give_up(session, row.id, at=self._clock(), error=failure.reason)
            return
        delay = _backoff(attempts, failure.retry_after)
        logger.warning(
            "outbox %s: %s send failed (%s), retry in %ss",
            row.id,
            _recipient(row),
            failure.reason,
            delay.total_seconds(),
        )
        await outbox.reschedule(
            session, row.id, retry_at=self._clock() + delay, error=failure.reason
        )


def _recipient(row: OutboxMessage) -> str:
    """How a log line names the row's recipient: its channel, and the masked address a
    notification's route shows."""
    shown = row.route.get("shown")
    return f"{row.channel} to {shown}" if shown else row.channel


def _time_to_send(row: OutboxMessage, now: datetime) -> bool:
    """Whether a held row still has half its lease: a send that outlasted the lease
    could go out twice (another worker may claim the row when the lease ends)."""
    leased = row.leased_until
    return leased is not None and aware(leased) - now >= LEASE / 2


def _batch(rows: Sequence[OutboxMessage], size: int) -> list[OutboxMessage]:
    """The first send's worth of ``rows``: up to ``size`` consecutive rows sharing the
    first one's route (one turn's replies)."""
    batch = [rows[0]]
    for row in rows[1:size]:
        if row.route != batch[0].route:
            break
        batch.append(row)
    return batch


def _backoff(attempts: int, retry_after: float | None) -> timedelta:
    if retry_after is not None:
        return timedelta(seconds=retry_after)
    return min(timedelta(seconds=2**attempts), _BACKOFF_CAP)


def payload(reply: Reply, part: int) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "key": reply.key,
        "params": dict(reply.params),
        # A button that opens a page keeps its address as a third item.
        "choices": [
            [choice.data, choice.label, *([choice.url] if choice.url else [])]
            for choice in reply.choices
        ],
        "sensitive": reply.sensitive,
        "secret": reply.secret,
        "part": part,
    }
    if reply.image is not None:  # its figures: the picture is drawn when it is sent
        payload["image"] = reply.image.as_json()
    # As the database gives it back (an enum as its value): a row the turn leased is
    # sent from memory, and must read as one claimed from the table.
    plain: dict[str, Any] = json.loads(json.dumps(payload))
    return plain


def _outgoing(row: OutboxMessage) -> Outgoing:
    # Rows queued before replies were numbered carry no part: each counts as a first.
    part = row.payload.get("part", 0)
    return Outgoing(row.id, row.user_id, row.route, _reply(row.payload), row.lang, part)


def _reply(payload: Mapping[str, Any]) -> Reply:
    return Reply(
        payload["key"],
        payload["params"],
        tuple(Choice(*choice) for choice in payload["choices"]),
        sensitive=payload["sensitive"],
        image=Chart.from_json(payload["image"]) if "image" in payload else None,
        secret=payload.get("secret"),  # rows queued before questions named their secret: None
    )
