"""Two updates of one chat delivered at the same instant to two workers (Telegram may
use up to 40 connections per webhook) are applied in the platform's order; a lone update
whose predecessors all arrived does not wait the order window."""

import asyncio
import contextlib
import itertools
import random
from collections.abc import AsyncIterator, Awaitable

import httpx
import pytest
from sqlalchemy import event, select
from starlette.applications import Starlette

from adapters.channels.telegram import Telegram
from bot.config import Settings
from bot.runtime import Runtime, start
from bot.server import create_app
from storage import conversations
from storage.models import Arrival, Conversation
from tests.channels.conftest import Member, take_update_id, telegram
from tests.channels.telegram_stand_in import TelegramStandIn
from tests.enroll import VISA

TRIALS = 30
_users = itertools.count(8_100_001)


@pytest.fixture(params=["after a gap", "in sequence"])
async def workers(
    request: pytest.FixtureRequest, telegram_settings: Settings, stand_in: TelegramStandIn
) -> AsyncIterator[list[httpx.AsyncClient]]:
    """Two serving workers on one database, with the real ordering window; the updates
    the test sends follow a gap (they wait the window) or the updates before them were
    all applied (they wait only for each other)."""
    settings = telegram_settings.with_env(NETANSWER_ORDER_WINDOW_MS=None)
    if request.param == "in sequence":
        await _earlier_updates_applied(settings)
    runtimes: list[Runtime] = [
        await asyncio.to_thread(start, settings, rng=random.Random(seed)) for seed in (1, 2)
    ]
    apps: list[Starlette] = [
        create_app(runtime, retry_every=3600, channels=[telegram(runtime)]) for runtime in runtimes
    ]
    async with contextlib.AsyncExitStack() as stack:
        clients = []
        for app in apps:
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app)
            client = httpx.AsyncClient(transport=transport, base_url="http://bot.test")
            clients.append(await stack.enter_async_context(client))
        yield clients


async def _earlier_updates_applied(settings: Settings) -> None:
    """As on a bot that has been running: the updates numbered just before the ones the
    test sends were applied."""
    last = take_update_id()
    bot = await asyncio.to_thread(start, settings)
    try:
        async with bot.database.transaction() as session:
            for update_id in range(last - Telegram.capabilities.sequence_reach, last + 1):
                await conversations.claim_event(
                    session, "telegram", str(update_id), bot.now(), update_id
                )
    finally:
        await bot.close()


async def _state(runtime_settings: Settings, user: int) -> str:
    bot = await asyncio.to_thread(start, runtime_settings, upgrade=False)
    try:
        async with bot.database.transaction() as session:
            row = await session.scalar(
                select(Conversation).where(Conversation.user_id == str(user))
            )
            return row.state if row else ""
    finally:
        await bot.close()


async def test_simultaneous_updates_of_one_chat_apply_in_order(
    workers: list[httpx.AsyncClient], stand_in: TelegramStandIn, telegram_settings: Settings
) -> None:
    in_order = 0
    for _ in range(TRIALS):
        first, second = (
            Member(client, stand_in, user_id=user)
            for client, user in zip(workers, itertools.repeat(next(_users)), strict=False)
        )
        await first.say("/start")
        card, expiry = first.message(VISA.number), first.message(VISA.expiry)
        # The later update reaches the other worker a moment before the earlier one.
        answers = await asyncio.gather(second.post(expiry), _after(0.002, first.post(card)))
        assert [answer.status_code for answer in answers] == [200, 200]
        if await _state(telegram_settings, first.user_id) == "code":
            in_order += 1
    assert in_order == TRIALS


async def _after(seconds: float, call: Awaitable[httpx.Response]) -> httpx.Response:
    await asyncio.sleep(seconds)
    return await call


async def test_a_lone_update_after_applied_ones_does_not_wait_the_window(
    telegram_settings: Settings, stand_in: TelegramStandIn
) -> None:
    # A window far past the turn deadline (9 s): waiting it would answer 503.
    settings = telegram_settings.with_env(NETANSWER_ORDER_WINDOW_MS="60000")
    await _earlier_updates_applied(settings)
    bot = await asyncio.to_thread(start, settings)
    app = create_app(bot, retry_every=3600, channels=[telegram(bot)])
    try:
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://bot.test") as client,
        ):
            member = Member(client, stand_in, user_id=next(_users))
            await member.say("/start")
            await member.say(VISA.number)
        assert await _state(settings, member.user_id) == "expiry"
        async with bot.database.transaction() as session:
            assert (await session.scalars(select(Arrival))).all() == []
    finally:
        await bot.close()


async def test_one_worker_keeps_a_chats_updates_in_order_registering_only_to_wait(
    telegram_settings: Settings, stand_in: TelegramStandIn
) -> None:
    """Updates in flight at one worker go straight into their turns when the updates
    numbered before them have arrived (nothing written to wait on), a chat's later one
    after its earlier one; a later one that arrives first registers and waits."""
    settings = telegram_settings.with_env(NETANSWER_ORDER_WINDOW_MS=None)
    await _earlier_updates_applied(settings)
    bot = await asyncio.to_thread(start, settings)
    app = create_app(bot, retry_every=3600, channels=[telegram(bot)])
    registered: list[str] = []

    def statement(_conn: object, _cursor: object, sql: str, *_: object) -> None:
        if sql.lstrip().upper().startswith("INSERT INTO ARRIVALS"):
            registered.append(sql)

    event.listen(bot.database.engine.sync_engine, "before_cursor_execute", statement)
    try:
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://bot.test") as client,
        ):
            for later_first in (False, True) * (TRIALS // 6):
                member = Member(client, stand_in, user_id=next(_users))
                await member.say("/start")
                card, expiry = member.message(VISA.number), member.message(VISA.expiry)
                first, second = (expiry, card) if later_first else (card, expiry)
                answers = await asyncio.gather(
                    member.post(first), _after(0.02, member.post(second))
                )
                assert [answer.status_code for answer in answers] == [200, 200]
                assert await _state(settings, member.user_id) == "code"
                assert len(registered) == (1 if later_first else 0)
                registered.clear()
        async with bot.database.transaction() as session:
            assert (await session.scalars(select(Arrival))).all() == []
    finally:
        await bot.close()
