"""The outbox under concurrent delivery: each reply sent once, each chat in order."""

import asyncio
import uuid
from collections.abc import Sequence

from sqlalchemy import select

from adapters.channels.channel import Channel, Inbound, Outgoing
from bot.dispatcher import Dispatcher
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
