"""The outbox under concurrent delivery: each reply sent once, each chat in order."""

import asyncio
import uuid
from collections.abc import Sequence

import pytest
from sqlalchemy import event, select

from adapters.channels.channel import Channel, Inbound, Outgoing, SendFailed
from bot.dispatcher import LEASE, Dispatcher
from bot.runtime import Runtime
from storage.models import OutboxMessage
from tests.conftest import Clock


class _SlowChannel(Channel):
    name = "test"

    def __init__(self, bot: Runtime) -> None:
        super().__init__(bot)
        self.sent: list[int] = []

    async def send(self, batch: Sequence[Outgoing]) -> None:
        await asyncio.sleep(0.005)
        self.sent.extend(outgoing.id for outgoing in batch)


async def test_racing_deliverers_send_each_reply_once_in_order(bot: Runtime, clock: Clock) -> None:
    for text in ("/start", "4980 0012 3456 7000", "12/29", "/help"):
        inbound = Inbound("test", "member-1", uuid.uuid4().hex, text=text)
        await bot.engine.handle(inbound, route={"chat": "member-1"})
    channel = _SlowChannel(bot)
    dispatcher = Dispatcher(bot.database, clock)
    dispatcher.register(channel)

    await asyncio.gather(*(dispatcher.deliver("test", "member-1") for _ in range(4)))
    await dispatcher.deliver_due()

    async with bot.database.transaction() as session:
        queued = list(await session.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id)))
    assert len(queued) == 7
    assert channel.sent == queued


class _SlowBatchChannel(Channel):
    name = "test"
    batch_size = 2

    def __init__(self, bot: Runtime) -> None:
        super().__init__(bot)
        self.batches: list[list[tuple[int, int]]] = []  # (row id, part in its turn)

    async def send(self, batch: Sequence[Outgoing]) -> None:
        await asyncio.sleep(0.005)
        self.batches.append([(outgoing.id, outgoing.part) for outgoing in batch])


async def test_racing_batch_deliverers_keep_each_turn_together_in_order(
    bot: Runtime, clock: Clock
) -> None:
    for text in ("/start", "4980 0012 3456 7000", "12/29"):  # 2, 2 and 1 replies
        inbound = Inbound("test", "member-1", uuid.uuid4().hex, text=text)
        await bot.engine.handle(inbound, route={"turn": text})
    channel = _SlowBatchChannel(bot)
    dispatcher = Dispatcher(bot.database, clock)
    dispatcher.register(channel)

    await asyncio.gather(*(dispatcher.deliver("test", "member-1") for _ in range(4)))

    async with bot.database.transaction() as session:
        queued = list(await session.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id)))
    assert channel.batches == [
        [(queued[0], 0), (queued[1], 1)],
        [(queued[2], 0), (queued[3], 1)],
        [(queued[4], 0)],
    ]


async def test_without_a_route_nothing_is_queued(bot: Runtime, clock: Clock) -> None:
    await bot.engine.handle(Inbound("test", "member-1", uuid.uuid4().hex, text="/start"))
    channel = _SlowChannel(bot)
    dispatcher = Dispatcher(bot.database, clock)
    dispatcher.register(channel)
    await dispatcher.deliver_due()
    assert channel.sent == []


class _Flaky(Channel):
    """Records what it sends; fails the sends it is told to."""

    name = "test"

    def __init__(self, bot: Runtime, failing: int = 0) -> None:
        super().__init__(bot)
        self.sent: list[int] = []
        self.failing = failing

    async def send(self, batch: Sequence[Outgoing]) -> None:
        if self.failing:
            self.failing -= 1
            raise SendFailed("test-down")
        self.sent.extend(outgoing.id for outgoing in batch)


class _FlakyBatches(_Flaky):
    batch_size = 10  # a turn's replies in one send, as Telegram's and LINE's


async def _rows(bot: Runtime) -> list[OutboxMessage]:
    async with bot.database.transaction() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def _sent_in_order(bot: Runtime, channel: _Flaky) -> list[OutboxMessage]:
    """Every outbox row, after checking the channel sent each once, in id order."""
    rows = await _rows(bot)
    assert channel.sent == [row.id for row in rows]
    return rows


def _transactions(bot: Runtime) -> list[int]:
    """A counter of the transactions ``bot`` begins from now on."""
    begun = [0]

    def count(*_: object) -> None:
        begun[0] += 1

    event.listen(bot.database.engine.sync_engine, "begin", count)
    return begun


async def test_a_turn_leases_its_replies_and_its_worker_sends_them_in_one_more_transaction(
    bot: Runtime,
) -> None:
    channel = _FlakyBatches(bot)
    bot.dispatcher.register(channel)
    await bot.handle(Inbound("test", "member-1", "e1", text="/start"), route={"chat": "m"})
    leased = await _rows(bot)
    assert [row.status for row in leased] == ["pending", "pending"]
    assert all(row.leased_until is not None and row.claims == 1 for row in leased)

    begun = _transactions(bot)
    await bot.deliver("test", "member-1")
    # Sent from memory; recording them sent and looking for more is one transaction.
    assert begun[0] == 1
    rows = await _sent_in_order(bot, channel)
    assert [(row.status, row.attempts, row.claims) for row in rows] == [("sent", 1, 1)] * 2
    assert bot.dispatcher.repeats == 0


async def test_replies_behind_an_unsent_one_are_not_leased_and_go_after_it(
    bot: Runtime, clock: Clock
) -> None:
    channel = _Flaky(bot, failing=1)
    bot.dispatcher.register(channel)
    await bot.handle(Inbound("test", "member-1", "e1", text="/start"), route={"chat": "m"})
    await bot.deliver("test", "member-1")  # fails: retried in 2 s, the turn's second released
    first = await _rows(bot)
    assert [row.leased_until for row in first] == [None, None]
    assert channel.sent == []

    await bot.handle(Inbound("test", "member-1", "e2", text="/help"), route={"chat": "m"})
    later = (await _rows(bot))[len(first) :]
    assert later and all(row.leased_until is None and row.claims == 0 for row in later)
    await bot.deliver("test", "member-1")  # the older reply is not due yet: nothing goes
    assert channel.sent == []

    clock.advance(seconds=3)
    await bot.dispatcher.deliver_due()
    rows = await _sent_in_order(bot, channel)
    assert {row.status for row in rows} == {"sent"}


async def test_replies_leased_to_a_worker_that_never_sent_them_go_once_after_the_lease(
    bot: Runtime, clock: Clock
) -> None:
    bot.dispatcher.register(_Flaky(bot))
    await bot.handle(Inbound("test", "member-1", "e1", text="/start"), route={"chat": "m"})
    # That worker is gone before sending; another worker's retry loop takes over.
    other = _Flaky(bot)
    dispatcher = Dispatcher(bot.database, clock)
    dispatcher.register(other)
    await dispatcher.deliver_due()
    assert other.sent == []  # still leased
    clock.advance(seconds=LEASE.total_seconds() + 1)
    await dispatcher.deliver_due()
    await dispatcher.deliver_due()
    rows = await _sent_in_order(bot, other)
    assert {row.status for row in rows} == {"sent"}
    # The first worker forgets what it held once the lease lapsed: nothing twice.
    await bot.dispatcher.deliver_due()
    assert bot.dispatcher._held == {}


async def test_leased_replies_whose_delivery_failed_go_with_the_next_sweep(
    bot: Runtime, clock: Clock
) -> None:
    """A delivery that fails before sending (the pool exhausted while it records an
    earlier outcome) leaves the turn's leased replies in memory: the worker's next retry
    sweep sends them, not the retry loop after their 60 s lease, and none counts as a
    repeat."""
    channel = _FlakyBatches(bot)
    bot.dispatcher.register(channel)
    await bot.handle(Inbound("test", "member-1", "e1", text="/start"), route={"chat": "m"})

    async def unavailable(session: object) -> None:
        raise TimeoutError("pool exhausted")

    bot.dispatcher._unrecorded.append(unavailable)
    with pytest.raises(TimeoutError):
        await bot.deliver("test", "member-1")
    assert channel.sent == []
    bot.dispatcher._unrecorded.clear()  # the database answers again

    clock.advance(seconds=1)
    await bot.dispatcher.deliver_due()
    rows = await _sent_in_order(bot, channel)
    assert [(row.status, row.attempts, row.claims) for row in rows] == [("sent", 1, 1)] * 2
    assert bot.dispatcher.repeats == 0


async def test_held_replies_with_under_half_their_lease_left_wait_for_the_lease(
    bot: Runtime, clock: Clock
) -> None:
    """A send begun near the end of its lease could still be running when another
    worker claims the row: held replies go only while half their lease is left; after
    that the retry loop sends them, once, when the lease is over."""
    channel = _FlakyBatches(bot)
    bot.dispatcher.register(channel)
    await bot.handle(Inbound("test", "member-1", "e1", text="/start"), route={"chat": "m"})
    clock.advance(seconds=LEASE.total_seconds() / 2 + 1)
    await bot.dispatcher.deliver_due()
    assert channel.sent == [] and bot.dispatcher._held == {}
    clock.advance(seconds=LEASE.total_seconds() / 2)
    await bot.dispatcher.deliver_due()
    rows = await _sent_in_order(bot, channel)
    assert {row.status for row in rows} == {"sent"}


async def test_leased_replies_behind_a_send_whose_record_failed_go_once_it_is_recorded(
    bot: Runtime, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database is away right after a send: its outcome is kept, and the turn's
    replies behind it stay with the worker, sent by the next sweep once the outcome is
    recorded, not after their lease; nothing is sent twice."""
    from storage import outbox

    channel = _Flaky(bot)  # one reply per send: the turn's second waits behind the first
    bot.dispatcher.register(channel)
    await bot.handle(Inbound("test", "member-1", "e1", text="/start"), route={"chat": "m"})
    mark_sent = outbox.mark_sent
    failures = [TimeoutError("pool exhausted")]

    async def unavailable_once(*args: object, **kwargs: object) -> None:
        if failures:
            raise failures.pop()
        await mark_sent(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(outbox, "mark_sent", unavailable_once)
    await bot.deliver("test", "member-1")
    first, second = await _rows(bot)
    assert channel.sent == [first.id]
    clock.advance(seconds=1)
    await bot.dispatcher.deliver_due()
    rows = await _rows(bot)
    assert channel.sent == [first.id, second.id]
    assert [(row.status, row.attempts) for row in rows] == [("sent", 1), ("sent", 1)]
    assert bot.dispatcher.repeats == 0
